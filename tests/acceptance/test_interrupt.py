"""Ctrl-C or SIGTERM during an apply: Terraform is interrupted as it expects, then the finalizer destroys.

A real pytest run in its own session deploys a module whose apply creates a role, then sits in a slow provisioner
(and would create a second role after it). Once the first role exists, the run gets the signal the way a terminal
sends Ctrl-C (SIGINT to its whole process group) or a CI runner cancels (SIGTERM to pytest). Terraform then stops
and writes its state, tflocal removes its override file, and the fixture's finalizer destroys what was created:
pytest ends interrupted (exit code 2) without a traceback, and nothing is left in LocalStack or on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import processes_under, pytest_project, wait_until

from lambda_url_harness.inventory import exists
from lambda_url_harness.workspace import OVERRIDE_FILE

pytestmark = pytest.mark.acceptance

SLOW_MODULE = """
variable "name" {
  type = string
}

locals {
  trust = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_iam_role" "first" {
  name               = "${var.name}-first"
  assume_role_policy = local.trust
}

resource "terraform_data" "slow" {
  depends_on = [aws_iam_role.first]
  provisioner "local-exec" {
    interpreter = ["%(python)s", "-c", "import time; time.sleep(300)"]
    command     = "slow"
  }
}

resource "aws_iam_role" "after" {
  depends_on         = [terraform_data.slow]
  name               = "${var.name}-after"
  assume_role_policy = local.trust
}
"""

SLOW_TEST = """
def test_slow_apply(terraform_deploy):
    terraform_deploy("infra", {"name": "%(name)s"})
"""


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("ctrl-c", id="SIGINT to the process group, as a terminal's Ctrl-C"),
        pytest.param("sigterm", id="SIGTERM to pytest, as a CI runner cancelling"),
    ],
)
def test_an_interrupted_apply_is_stopped_gracefully_and_destroyed(
    how: str, localstack_endpoint: str, aws_client: Callable[[str], Any], tmp_path: Path
) -> None:
    name = f"interrupted-{how}-{os.getpid()}"
    project = tmp_path / "project"
    (project / "infra").mkdir(parents=True)
    (project / "infra" / "main.tf").write_text(SLOW_MODULE % {"python": sys.executable})
    (project / "test_slow.py").write_text(SLOW_TEST % {"name": name})
    state_dir, basetemp = tmp_path / "state", tmp_path / "basetemp"
    environment = pytest_project(project, state_dir, localstack_endpoint)
    iam = aws_client("iam")

    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--localstack=external", f"--basetemp={basetemp}", "test_slow.py"],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a shell's foreground job
    )
    try:
        started = wait_until(lambda: exists(iam.get_role, RoleName=f"{name}-first"), timeout_s=180, interval_s=0.5)
        assert started, "the apply never created its first role"
        assert run.poll() is None, "pytest ended before the interrupt"
        if how == "ctrl-c":
            os.killpg(run.pid, signal.SIGINT)
        else:
            run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()

    assert run.returncode == pytest.ExitCode.INTERRUPTED, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert "KeyboardInterrupt" in output
    # Terraform stopped in the provisioner: the second role was never created; the finalizer destroyed the first.
    assert not exists(iam.get_role, RoleName=f"{name}-first"), output[-4000:]
    assert not exists(iam.get_role, RoleName=f"{name}-after")
    assert "destroy" in output  # the phase timings list the finalizer's destroy
    assert not list(basetemp.rglob(OVERRIDE_FILE)), "tflocal's override file was removed"
    assert processes_under(basetemp) == set(), "no terraform, tflocal, provisioner or provider is left running"
    assert not list((state_dir / "runs").glob("*.json")), "the run cleaned up everything it recorded"
