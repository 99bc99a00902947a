"""deploy/destroy bookkeeping: the record of who started LocalStack, and the lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_url_harness.cli import build_parser
from lambda_url_harness.localstack import LocalStackHandle
from lambda_url_harness.root_deploy import DeployError, exclusive, read_record, write_record


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
