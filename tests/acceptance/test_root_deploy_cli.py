"""``python -m lambda_url_harness deploy --json`` / ``destroy`` (what ``make deploy`` / ``make destroy`` run), on a
copy of the module, a free port and a state dir of their own: the JSON document, then destroy stopping exactly
the LocalStack deploy started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import wait_until

from embedded_localstack.control.ports import free_port
from embedded_localstack.control.processes import is_running, is_same_process
from lambda_url_harness.function_url import function_url_session, post_json
from lambda_url_harness.square.module import REPO_ROOT, SQUARE_MODULE_ITEMS
from lambda_url_harness.workspace import create_workspace

pytestmark = pytest.mark.acceptance

BOUND_S = 600


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if key not in ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "lambda_url_harness", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )


def test_deploy_json_then_destroy_stops_what_deploy_started(tmp_path: Path) -> None:
    workspace = create_workspace(REPO_ROOT, tmp_path, include=SQUARE_MODULE_ITEMS)
    state_dir = tmp_path / "state"
    places = ["--root", str(workspace.root), "--state-dir", str(state_dir)]
    deployed = _cli("deploy", "--json", "--localstack", "embedded", "--port", str(free_port()), *places)
    try:
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        document = json.loads(deployed.stdout)  # stdout is the JSON alone; progress went to stderr
        assert "==> tflocal init + apply" in deployed.stderr
        assert document["answer"] == {"result": 36}
        assert document["function_url"] == document["outputs"]["function_url"]
        assert document["outputs"]["function_name"] == "square"
        localstack = document["localstack"]
        assert (localstack["source"], localstack["owned"]) == ("embedded", True)
        assert is_same_process(localstack["pid"], localstack["started"])
        assert [phase["phase"] for phase in document["timings"]] == ["localstack", "init", "apply", "first 200"]
        assert all(phase["ok"] and phase["seconds"] >= 0 for phase in document["timings"])
        assert document["curl"].startswith("curl -sS --connect-to ")
        with function_url_session(localstack["endpoint"]) as session:
            assert post_json(session, document["function_url"], {"number": 7}).json() == {"result": 49}
    finally:
        destroyed = _cli("destroy", *places)
    assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
    assert "checked: none of the 6 resources the state listed is left in LocalStack" in destroyed.stdout
    assert f"stopping the embedded LocalStack deploy started at {localstack['endpoint']}" in destroyed.stdout
    assert wait_until(lambda: not is_running(localstack["pid"]), 15)
    assert not (state_dir / "deploy.json").exists()
