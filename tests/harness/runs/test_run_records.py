"""Run records (lambda_url_harness.runs): what a killed run left is cleared, nothing else. Real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from embedded_localstack.control.processes import start_time, stop_process_group
from embedded_localstack.paths import StatePaths
from lambda_url_harness.localstack_handle import RUN_ENDED, LocalStackHandle
from lambda_url_harness.runs.ledger import RunLedger, TrackedProcess, read_records
from lambda_url_harness.session import recover_stale_runs

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _dead_owner_record(state_dir: Path, **tracked: list) -> Path:
    """A record as a SIGKILLed run leaves it: its owner (a finished process) is gone."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(finished.stdout)
    path = state_dir / "runs" / f"{pid}-1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"owner_pid": pid, "owner_started": 1.0, "label": "killed", "started_at": 0.0}
    path.write_text(json.dumps(document | tracked))
    return path


def test_ledger_file_exists_only_while_something_is_tracked(tmp_path: Path) -> None:
    ledger = RunLedger(tmp_path, label="pytest")
    ledger.close()  # closing an unused ledger inspects no process and writes nothing
    assert not (tmp_path / "runs").exists()
    assert not ledger.path.exists()
    ledger.track_workspace(tmp_path / "ws-abc123", "http://127.0.0.1:4566", {"function_name": "square-abc123"})
    (path, record) = read_records(tmp_path)[0]
    assert path == ledger.path
    assert record.owner_alive()
    assert record.workspaces[0].variables == {"function_name": "square-abc123"}
    ledger.forget_workspace(tmp_path / "ws-abc123")
    assert not ledger.path.exists()


def test_live_runs_are_never_recovered(tmp_path: Path) -> None:
    workspace = tmp_path / "ws-live01"
    workspace.mkdir()
    ledger = RunLedger(tmp_path, label="alive")
    ledger.track_workspace(workspace, "http://127.0.0.1:9")
    assert recover_stale_runs(tmp_path) == []
    assert workspace.is_dir()
    ledger.close()


def test_dead_runs_processes_and_workspaces_are_cleared(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(SLEEPER, start_new_session=True)
    workspace = tmp_path / "ws-dead01"
    workspace.mkdir()
    foreign = tmp_path / "ws-foreign"
    foreign.mkdir()
    started = start_time(sleeper.pid)
    record = _dead_owner_record(
        tmp_path,
        processes=[{"pid": sleeper.pid, "started": started, "command": "tflocal apply"}],
        workspaces=[{"path": str(workspace), "endpoint": "http://127.0.0.1:9", "variables": {}}],
    )
    try:
        actions = recover_stale_runs(tmp_path)
        assert sleeper.wait(timeout=30) != 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
    assert f"stopped left-over `tflocal apply` (pid {sleeper.pid})" in actions
    assert f"removed workspace {workspace}" in actions
    assert not workspace.exists()
    assert foreign.is_dir()
    assert not record.exists()


def test_a_reused_pid_is_not_signalled(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        started = start_time(sleeper.pid)
        assert started is not None
        stale = TrackedProcess(sleeper.pid, started - 60, "tflocal apply")  # same PID, another process
        assert stop_process_group(stale.pid, stale.started) is False
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


def test_paths_that_are_not_workspaces_are_left_alone(tmp_path: Path) -> None:
    precious = tmp_path / "my-project"
    precious.mkdir()
    _dead_owner_record(tmp_path, workspaces=[{"path": str(precious), "endpoint": "http://127.0.0.1:9"}])
    actions = recover_stale_runs(tmp_path)
    assert any("not a harness workspace" in action for action in actions)
    assert precious.is_dir()


def test_scratch_dirs_of_ended_runs_go_once_their_localstack_is_gone_and_nothing_else(tmp_path: Path) -> None:
    """A failed run keeps its stopped LocalStack's scratch dir for the log, a --keep-deployments run its running
    LocalStack's; both are marked. A later run removes a marked dir once its LocalStack no longer runs; an unmarked
    one may be another worker's LocalStack starting right now."""
    paths = StatePaths(tmp_path)
    failed = paths.scratch_localstack(40001)
    (failed / "filesystem").mkdir(parents=True)
    stopped = LocalStackHandle(source="embedded", endpoint="http://127.0.0.1:40001", owned=False, state_dir=str(failed))
    stopped.scratch = True
    stopped.release(keep_state=True)
    assert (failed / RUN_ENDED).is_file()
    kept = paths.scratch_localstack(40003)
    kept.mkdir()
    sleeper = subprocess.Popen(SLEEPER, start_new_session=True)  # stands in for the kept LocalStack
    try:
        running = LocalStackHandle(
            source="embedded",
            endpoint="http://127.0.0.1:40003",
            owned=True,
            pid=sleeper.pid,
            started=start_time(sleeper.pid),
            state_dir=str(kept),
            scratch=True,
        )
        running.mark_run_ended()
        starting = paths.scratch_localstack(40002)
        starting.mkdir()
        (tmp_path / "localstack").mkdir()  # `make start`'s, never a scratch dir

        assert recover_stale_runs(tmp_path) == [f"removed {failed} (kept by an ended run; its LocalStack is gone)"]
        assert kept.is_dir() and starting.is_dir() and (tmp_path / "localstack").is_dir()
    finally:
        stop_process_group(sleeper.pid, start_time(sleeper.pid))
        sleeper.wait()
    assert recover_stale_runs(tmp_path) == [f"removed {kept} (kept by an ended run; its LocalStack is gone)"]
    assert starting.is_dir()
