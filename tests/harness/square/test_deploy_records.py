"""deploy/destroy bookkeeping: the record of who started LocalStack, and the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from embedded_localstack.control import processes
from lambda_url_harness.cli import build_parser
from lambda_url_harness.errors import DeployError
from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.session import exclusive
from lambda_url_harness.square.root_deploy import destroy, read_record, write_record


def test_record_round_trip(tmp_path: Path) -> None:
    record = LocalStackHandle(
        source="embedded", endpoint="http://127.0.0.1:4570", owned=True, pid=1234, started=1.5e9, state_dir="/s"
    )
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record
    assert record.port == 4570


def test_missing_record_is_none(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None


def test_corrupt_record_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "deploy.json").write_text("{not json")
    with pytest.raises(DeployError, match=r"deploy\.json is unreadable"):
        read_record(tmp_path)


def test_only_one_deploy_or_destroy_at_a_time(tmp_path: Path) -> None:
    with (
        exclusive(tmp_path),
        pytest.raises(DeployError, match="another deploy or destroy is running"),
        exclusive(tmp_path),
    ):
        pass
    with exclusive(tmp_path):  # released again
        pass


def test_cli_rejects_unknown_modes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["deploy", "--localstack", "kubernetes"])
    assert "invalid choice: 'kubernetes'" in capsys.readouterr().err


def test_destroy_never_stops_a_localstack_deploy_did_not_start(tmp_path: Path) -> None:
    """The recorded LocalStack died and another process now has its PID (or a user's own LocalStack took
    over the port and the state dir): destroy compares PID and start time and signals nothing."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        started = processes.start_time(sleeper.pid)
        assert started is not None
        record = LocalStackHandle(
            source="embedded",
            endpoint="http://127.0.0.1:9",
            owned=True,
            pid=sleeper.pid,
            started=started - 600,
            state_dir=str(tmp_path / "localstack"),
        )
        state_dir = tmp_path / "state"
        write_record(state_dir, record)
        root = tmp_path / "root"
        root.mkdir()
        (root / "main.tf").write_text("")
        printed: list[str] = []
        destroy(root=root, state_dir=state_dir, env={}, out=printed.append)
        assert sleeper.poll() is None, "destroy signalled a process it did not start"
        assert any("is gone; whatever answers there now was started by someone else" in line for line in printed)
        assert read_record(state_dir) is None
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
