"""Port 4566 (here: a free port standing in for it) held by something that is not LocalStack.

Neither path may mistake the squatter for LocalStack or hang on it: ``make deploy``'s path fails with a
message naming the port and what holds it; the pytest fixture path (``--localstack=auto``) passes over it
and starts its embedded LocalStack on a free port, as documented.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import Squatter
from support import processes_under

from lambda_url_harness.discovery import DiscoveryOptions, Mode, acquire
from lambda_url_harness.square.module import REPO_ROOT, SQUARE_MODULE_ITEMS
from lambda_url_harness.workspace import create_workspace

DEPLOY_BOUND_S = 120.0
"""A bound against a hang only; the deploy gives up within a few seconds."""


@pytest.fixture(params=["silent-tcp", "http-404"])
def squatter(request: pytest.FixtureRequest) -> Iterator[Squatter]:
    server = Squatter(request.param)
    try:
        yield server
    finally:
        server.close()


def test_make_deploy_path_names_the_squatter(squatter: Squatter, tmp_path: Path) -> None:
    workspace = create_workspace(REPO_ROOT, tmp_path, include=SQUARE_MODULE_ITEMS)
    state_dir = tmp_path / "state"
    environment = {
        key: value for key, value in os.environ.items() if key not in ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambda_url_harness",
            "deploy",
            "--port",
            str(squatter.port),
            "--root",
            str(workspace.root),
            "--state-dir",
            str(state_dir),
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEPLOY_BOUND_S,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr
    assert "Traceback" not in error
    assert f"port {squatter.port} on 127.0.0.1 is in use by something that is not a healthy LocalStack" in error
    expected_reason = {
        "silent-tcp": f"something at {squatter.endpoint} accepts connections but does not answer",
        "http-404": f"{squatter.endpoint} answers /_localstack/health with HTTP 404",
    }[squatter.kind]
    assert expected_reason in error
    assert not (state_dir / "localstack" / "localstack.pid").exists(), "no LocalStack may have been started"
    assert not processes_under(state_dir)
    assert not (workspace.root / "terraform.tfstate").exists(), "terraform must not have run"


@pytest.mark.embedded
def test_fixture_path_does_not_take_the_squatter_for_localstack(squatter: Squatter) -> None:
    # What the `localstack` session fixture does, with the squatter where 127.0.0.1:4566 would be.
    options = DiscoveryOptions(mode=Mode.AUTO, env={}, default_endpoint=squatter.endpoint, start_port=None)
    lease = acquire(options)
    try:
        assert lease.source == "embedded"
        assert lease.owned
        assert lease.endpoint != squatter.endpoint
    finally:
        lease.stop()
        lease.discard_scratch()
