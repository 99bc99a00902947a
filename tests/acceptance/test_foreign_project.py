"""A project with none of this repo's files `pip install`s the harness and tests its own module with the plugin.

A fresh venv gets the package installed the way a user would (``pip install <sources> pytest``, not editable,
from a copy of the distribution's files), and a temp project holds only its own Terraform module and one test
file. Its pytest run uses this session's LocalStack (``--localstack=external``) and the user cache for state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import processes_under

from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

DISTRIBUTION_FILES = ("pyproject.toml", "README.md", "embedded_localstack", "lambda_url_harness", "requirements")
PIP_TIMEOUT_S = 600
RUN_TIMEOUT_S = 600

FOREIGN_TEST = """
import sys


def test_my_function_answers(terraform_deploy, localstack):
    deployment = terraform_deploy("infra", {"name": "foreign-{suffix}", "python_executable": sys.executable})
    response = deployment.http.post(deployment.outputs["url"], json={"from": "foreign"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["body"] == '{"from": "foreign"}'
    print("deployed", deployment.outputs["function_name"], "at", localstack.endpoint, "from", localstack.source)
"""


@pytest.fixture(scope="module")
def foreign_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the harness installed from its distribution files, plus pytest; nothing else."""
    base = tmp_path_factory.mktemp("foreign-venv")
    sources = base / "sources"
    sources.mkdir()
    for name in DISTRIBUTION_FILES:
        item = REPO_ROOT / name
        if item.is_dir():
            shutil.copytree(item, sources / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, sources / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", str(sources), "pytest"],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return python


LOCALSTACK_VENV_PYTHON = REPO_ROOT / ".venv-localstack" / "bin" / "python"


@pytest.mark.parametrize("mode", ["external", "embedded"])
def test_foreign_project_deploys_calls_and_destroys_through_the_plugin(
    foreign_python: Path, localstack_endpoint: str, aws_client: Callable[[str], Any], tmp_path: Path, mode: str
) -> None:
    """external: this session's LocalStack. embedded: the plugin starts (and stops) its own, with an existing
    LocalStack venv given by ``--localstack-python`` (provisioning one is tested in tests/unit/test_provision.py)."""
    project = tmp_path / "my-project"
    shutil.copytree(REPO_ROOT / "tests" / "modules" / "echo", project / "infra")
    (project / "tests").mkdir()
    (project / "tests" / "test_infra.py").write_text(FOREIGN_TEST)
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("LAMBDA_URL_HARNESS_STATE_DIR", "AWS_ENDPOINT_URL", "VIRTUAL_ENV", "PYTHONPATH")
    }
    environment["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    basetemp = tmp_path / "basetemp"  # the run's workspaces (and the shared aws provider's working dir)
    options = [f"--localstack={mode}", f"--basetemp={basetemp}"]
    if mode == "external":
        environment["LOCALSTACK_ENDPOINT"] = localstack_endpoint
    else:  # also the option that turns the shared aws provider off
        environment.pop("LOCALSTACK_ENDPOINT", None)
        options += [f"--localstack-python={LOCALSTACK_VENV_PYTHON}", "--no-provider-reuse"]

    started = time.monotonic()
    run = subprocess.run(
        [str(foreign_python), "-m", "pytest", "-s", *options, "tests"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    assert "1 passed" in output
    assert f"from {mode}" in output
    print(f"foreign project run ({mode}): {seconds:.1f} s")

    # It used the installed copy, not this checkout, and kept its state in the user cache.
    assert (
        "site-packages"
        in subprocess.run(
            [str(foreign_python), "-c", "import lambda_url_harness; print(lambda_url_harness.__file__)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=project,
        ).stdout
    )
    state_dir = tmp_path / "cache" / "lambda-url-harness" / "state"
    assert state_dir.is_dir()
    assert not list((state_dir / "runs").glob("*.json")), "a clean run leaves no run record"

    assert processes_under(project) == set()
    assert processes_under(basetemp) == set(), "no terraform, tflocal or aws provider outlives the run"
    servers = {path.parent.name for path in basetemp.rglob("harness-aws-provider.out")}
    assert servers == (set() if mode == "embedded" else {".terraform"}), "shared provider unless turned off"
    assert not list(project.rglob("terraform.tfstate")), "the workspace is a temp copy, never the project"
    if mode == "embedded":
        assert processes_under(state_dir) == set(), "the LocalStack the run started is stopped"
        assert not list(state_dir.glob("localstack-test-*")), "its scratch state dir is removed after a green run"
        return  # its resources went with it

    # Destroyed: no foreign-* function or role is left in the shared LocalStack.
    deployed = output.split("deployed ", 1)[1].split()[0]
    assert deployed.startswith("foreign-")
    functions = aws_client("lambda").list_functions()["Functions"]
    assert deployed not in {function["FunctionName"] for function in functions}
    roles = aws_client("iam").list_roles()["Roles"]
    assert f"{deployed}-role" not in {role["RoleName"] for role in roles}
