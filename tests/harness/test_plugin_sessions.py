"""The pytest plugin in real pytest runs (subprocesses) against a stand-in LocalStack on loopback: services the tests
ask for with the marker, and the phase timings of pytest-xdist workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import pytest_project

USES_LOCALSTACK = """
import pytest

pytestmark = pytest.mark.localstack_services({services})


def test_one(localstack):
    assert localstack.source == "external"


def test_two(localstack):
    assert localstack.source == "external"
"""


def run_pytest(project: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = pytest_project(project, project / "state", endpoint)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--localstack=external", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_services_the_marker_names_are_required_of_a_found_localstack(fake_localstack, tmp_path: Path) -> None:
    (tmp_path / "test_marked.py").write_text(USES_LOCALSTACK.format(services='"s3", "sqs"'))
    run = run_pytest(tmp_path, fake_localstack.endpoint)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert f"LocalStack at {fake_localstack.endpoint} lacks services s3, sqs" in output
    assert "The tests need s3, sqs besides iam, lambda, logs, sts (--localstack-services" in output

    fake_localstack.health = {"services": dict.fromkeys(("iam", "lambda", "logs", "sts", "s3", "sqs"), "running")}
    assert run_pytest(tmp_path, fake_localstack.endpoint).returncode == pytest.ExitCode.OK


def test_an_unknown_service_in_the_marker_is_a_usage_error(fake_localstack, tmp_path: Path) -> None:
    (tmp_path / "test_marked.py").write_text(USES_LOCALSTACK.format(services='"s3", "sqss"'))
    run = run_pytest(tmp_path, fake_localstack.endpoint)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "@pytest.mark.localstack_services: unknown LocalStack service(s): sqss" in run.stderr


def test_phase_timings_of_xdist_workers_are_summed_up_by_the_controller(fake_localstack, tmp_path: Path) -> None:
    fake_localstack.health = {"services": dict.fromkeys(("iam", "lambda", "logs", "sts", "s3"), "running")}
    (tmp_path / "test_marked.py").write_text(USES_LOCALSTACK.format(services='"s3"'))
    run = run_pytest(tmp_path, fake_localstack.endpoint, "-n", "2", "--dist", "each")
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.OK, output
    summary = output.split("deployment phase timings", 1)[1]
    workers = {line.split()[0] for line in summary.splitlines() if " localstack " in line}
    assert workers == {"gw0", "gw1"}, summary
