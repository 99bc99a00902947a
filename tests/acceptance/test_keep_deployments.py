"""``--keep-deployments``: a run leaves its deployment up and prints a line that destroys it later."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

KEEPING_TEST = """
import sys


def test_deploy(terraform_deploy):
    deployment = terraform_deploy("infra", {"name": "kept-{suffix}", "python_executable": sys.executable})
    print("deployed", deployment.outputs["function_name"])
"""


def test_kept_deployment_survives_the_run_and_the_printed_line_destroys_it(
    localstack_endpoint: str, aws_client: Callable[[str], Any], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "tests" / "modules" / "echo", project / "infra")
    (project / "test_keep.py").write_text(KEEPING_TEST)
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    environment = {name: value for name, value in os.environ.items() if name != "AWS_ENDPOINT_URL"}
    environment["LOCALSTACK_ENDPOINT"] = localstack_endpoint
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
    name = output.split("deployed ", 1)[1].split()[0]
    lambda_client = aws_client("lambda")
    try:
        assert lambda_client.get_function(FunctionName=name)["Configuration"]["State"] == "Active"
        kept = [line for line in output.splitlines() if line.startswith(f"infra:{name.removeprefix('kept-')}: cd ")]
        assert len(kept) == 1, output[-3000:]
        command = kept[0].split(": ", 1)[1]
        destroyed = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=600)
        assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
        assert name not in {function["FunctionName"] for function in lambda_client.list_functions()["Functions"]}
    finally:
        if name in {function["FunctionName"] for function in lambda_client.list_functions()["Functions"]}:
            lambda_client.delete_function(FunctionName=name)
            aws_client("iam").delete_role(RoleName=f"{name}-role")
