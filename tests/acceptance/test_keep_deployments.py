"""``--keep-deployments``: a run leaves its deployment up, out of pytest's temp dir, and prints how to use it later.

The module holds an S3 bucket: by hand, the bucket is where tflocal's defaults go wrong (its host needs public DNS,
and the aws provider then takes it for deleted). The printed ``tflocal`` line reaches it (a plan finds no change), and
the printed destroy command removes everything and checks that nothing is left.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import pytest_project

from lambda_url_harness.inventory import exists
from lambda_url_harness.kept import KEPT_RECORD
from lambda_url_harness.square.module import REPO_ROOT

pytestmark = [pytest.mark.acceptance, pytest.mark.localstack_services("s3")]

KEEPING_TEST = """
def test_deploy(terraform_deploy):
    deployment = terraform_deploy("infra", {"name": "kept-{suffix}"})
    print("deployed", deployment.outputs["bucket"])
"""


def test_a_kept_deployment_survives_the_run_and_the_printed_lines_use_and_destroy_it(
    localstack_endpoint: str, aws_client: Callable[[str], Any], tmp_path: Path
) -> None:
    project, state_dir = tmp_path / "project", tmp_path / "state"
    shutil.copytree(REPO_ROOT / "tests" / "modules" / "destroy-check", project / "infra")
    (project / "test_keep.py").write_text(KEEPING_TEST)
    environment = pytest_project(project, state_dir, localstack_endpoint)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "--localstack=external", "--keep-deployments", "test_keep.py"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    bucket = output.split("deployed ", 1)[1].split()[0]
    s3 = aws_client("s3")
    try:
        assert exists(s3.head_bucket, Bucket=bucket), "the deployment outlived the run"
        lines = output.split("to remove them later", 1)[1].splitlines()
        working_dir = Path(next(line for line in lines if " kept in " in line).split(" kept in ", 1)[1])
        assert working_dir.parent == state_dir / "kept", "out of pytest's temp dir, which pytest deletes"
        assert (working_dir / KEPT_RECORD).is_file() and (working_dir / "terraform.tfstate").is_file()

        by_hand = next(line for line in lines if "tflocal by hand: " in line).split("tflocal by hand: ", 1)[1]
        assert f"S3_ENDPOINT={localstack_endpoint}" in by_hand
        planned = subprocess.run(by_hand, shell=True, capture_output=True, text=True, timeout=300)
        assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr[-3000:]
        assert "No changes." in planned.stdout, "by hand, the same state against the same LocalStack: nothing to do"

        destroy = next(line for line in lines if "destroy it (checked): " in line).split(": ", 1)[1]
        destroyed = subprocess.run(destroy, shell=True, capture_output=True, text=True, timeout=600)
        assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
        assert "destroyed at " in destroyed.stdout and "nothing left" in destroyed.stdout
        assert not exists(s3.head_bucket, Bucket=bucket)
        assert not working_dir.exists(), "the kept workspace is removed with its deployment"
    finally:
        if exists(s3.head_bucket, Bucket=bucket):
            s3.delete_bucket(Bucket=bucket)
