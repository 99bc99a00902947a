"""A test run is SIGKILLed during ``apply``; the next run clears exactly what it left.

The killed run is a real pytest session (``tests/acceptance/test_deployed_function_url.py``, embedded
LocalStack on a free port) with a state dir of its own (``$LAMBDA_URL_HARNESS_STATE_DIR``) and its own
``--basetemp``. A SIGKILL leaves its LocalStack (own session), tflocal/terraform (own process group,
still applying), the workspace with a half-applied state and its run record. The next run's recovery
(``python -m lambda_url_harness recover``, the same function ``pytest`` and ``make deploy`` call first)
must stop and remove those, and nothing else: a foreign LocalStack in a look-alike state dir, a foreign
file, a foreign directory and the run record of a live process all survive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_helpers import role_exists, sigkill, start_private_localstack, stop_localstacks_under
from support import alive, processes_under, wait_until

from embedded_localstack.control.health import is_healthy
from embedded_localstack.control.processes import is_same_process, process_tree
from embedded_localstack.paths import STATE_DIR_VARIABLE
from lambda_url_harness.provider.server import socket_dir_prefix
from lambda_url_harness.runs.ledger import RunLedger, read_records
from lambda_url_harness.session import recover_stale_runs
from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

CHILD_TIMEOUT_S = 240.0


def _record_applying(state_dir: Path) -> dict[str, Any] | None:
    """The killed-to-be run's record, once it shows a running ``tflocal apply``."""
    for path, record in read_records(state_dir):
        if record.label == "pytest" and any(p.command == "tflocal apply" for p in record.processes):
            return json.loads(path.read_text())
    return None


def _tracked(record: dict[str, Any], command: str, *, prefix: bool = False) -> dict[str, Any]:
    """The one process of the record running ``command`` (or a command starting with it)."""
    (found,) = [
        p for p in record["processes"] if (p["command"].startswith(command) if prefix else p["command"] == command)
    ]
    return found


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """The killed run's state dir; whatever the test leaves running in it (on failure) is stopped."""
    directory = tmp_path / "state"
    directory.mkdir()
    try:
        yield directory
    finally:
        recover_stale_runs(directory)  # the killed run's leftovers, should the test fail before its recovery
        stop_localstacks_under(directory)  # the foreign LocalStack


def test_sigkilled_run_is_cleared_by_the_next_one(tmp_path: Path, state_dir: Path) -> None:
    # Things the killed run did not create, some looking exactly like its own.
    foreign_file = state_dir / "notes.txt"
    foreign_file.write_text("mine\n")
    foreign_dir = state_dir / "localstack-test-mine"
    foreign = start_private_localstack(foreign_dir)
    live_ledger = RunLedger(state_dir, label="someone-alive")  # this process: alive, so never recovered
    live_workspace = tmp_path / "elsewhere" / "ws-alive"
    live_workspace.mkdir(parents=True)
    live_ledger.track_workspace(live_workspace, foreign.endpoint)

    environment = {
        key: value for key, value in os.environ.items() if key not in ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
    }
    environment[STATE_DIR_VARIABLE] = str(state_dir)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/acceptance/test_deployed_function_url.py",
            "--localstack=embedded",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'killed-run'}",
            "-q",
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: _record_applying(state_dir) is not None or child.poll() is not None, 120), (
            "the child run never reached `tflocal apply`"
        )
        record = _record_applying(state_dir)
        assert record is not None, f"the child run ended (exit {child.returncode}) before `tflocal apply`"
        # Half-applied: LocalStack holds the role, the function is still to come.
        role_name = f"{record['workspaces'][0]['variables']['function_name']}-role"
        endpoint = record["localstacks"][0]["endpoint"]
        assert wait_until(lambda: role_exists(endpoint, role_name), 120), "the child's apply never created the role"
        sigkill(child.pid)
        child.wait(timeout=30)
        # Freeze the orphaned tflocal and terraform mid-apply: on a busy machine the apply could otherwise
        # finish before the recovery looks (which sends SIGCONT along with its SIGINT).
        os.killpg(_tracked(record, "tflocal apply")["pid"], signal.SIGSTOP)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)

    # What the SIGKILL left behind.
    (localstack,) = record["localstacks"]
    (workspace,) = record["workspaces"]
    tflocal = _tracked(record, "tflocal apply")
    provider = _tracked(record, "terraform-provider-aws", prefix=True)  # the deployment's shared aws provider
    localstack_dir = Path(localstack["state_dir"])
    workspace_root = Path(workspace["path"])
    assert localstack_dir.parent == state_dir and localstack["scratch"]
    assert alive(localstack["pid"]), "the killed run's LocalStack should have outlived it"
    assert (localstack_dir / "localstack.pid").exists()
    assert is_same_process(tflocal["pid"], tflocal["started"]), "tflocal should still be applying"
    assert is_same_process(provider["pid"], provider["started"]), "the shared provider should outlive the run"
    assert len(record["processes"]) == 2, record["processes"]
    prefix = socket_dir_prefix(record["owner_pid"], record["owner_started"])
    (proxy_dir,) = Path(tempfile.gettempdir()).glob(prefix + "*")  # the killed run's provider and proxy sockets
    assert workspace_root.is_dir()
    localstack_tree = process_tree(localstack["pid"])

    recovery = subprocess.run(
        [sys.executable, "-m", "lambda_url_harness", "recover", "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    try:
        assert recovery.returncode == 0, recovery.stderr
        report = recovery.stdout
        assert f"stopped left-over `tflocal apply` (pid {tflocal['pid']})" in report
        assert f"stopped left-over `{provider['command']}` (pid {provider['pid']})" in report
        assert not alive(provider["pid"])
        assert f"removed the provider temp dir {proxy_dir}" in report
        assert not proxy_dir.exists()
        assert f"stopped left-over embedded LocalStack at {localstack['endpoint']}" in report
        assert f"removed workspace {workspace_root}" in report

        # Gone: the run's LocalStack, its function processes, tflocal/terraform, its files.
        assert not alive(localstack["pid"])
        assert wait_until(lambda: not any(alive(pid) for pid in localstack_tree), 15), "LocalStack's children live on"
        assert not processes_under(workspace_root.parent)
        assert not localstack_dir.exists()
        assert not workspace_root.exists()
        assert [r.label for _, r in read_records(state_dir)] == ["someone-alive"]

        # Untouched: everything the killed run did not record.
        assert foreign_file.read_text() == "mine\n"
        assert foreign.pid is not None and alive(foreign.pid)
        assert is_healthy(foreign.endpoint)
        assert (foreign_dir / "localstack.pid").exists()
        assert live_workspace.is_dir()

        # Nothing left to do for the run after that.
        again = subprocess.run(
            [sys.executable, "-m", "lambda_url_harness", "recover", "--state-dir", str(state_dir)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert again.stdout.strip() == "nothing to recover", again.stdout
    finally:
        live_ledger.close()
