"""The embedded LocalStack's PID file names its process by PID and start time, in either format it was written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded_localstack.control.lifecycle import PROCESS_MODULE, EmbeddedSettings, running_pid
from embedded_localstack.control.ports import free_port
from embedded_localstack.control.processes import start_time

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="embedded mode runs on Linux")


@pytest.fixture
def look_alike() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names LocalStack's entry module, as our LocalStack's does."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", PROCESS_MODULE])
    yield process
    process.kill()
    process.wait(timeout=10)


def _settings(tmp_path: Path, record: dict[str, object]) -> EmbeddedSettings:
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    settings.state_dir.mkdir(parents=True)
    settings.pid_file.write_text(json.dumps(record))
    return settings


def test_a_start_time_in_seconds_since_boot_names_it(tmp_path: Path, look_alike: subprocess.Popen[bytes]) -> None:
    started = start_time(look_alike.pid)
    assert running_pid(_settings(tmp_path, {"pid": look_alike.pid, "start_time": started})) == look_alike.pid


def test_an_earlier_versions_clock_ticks_name_it_too(tmp_path: Path, look_alike: subprocess.Popen[bytes]) -> None:
    ticks = int(Path(f"/proc/{look_alike.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert running_pid(_settings(tmp_path, {"pid": look_alike.pid, "start_time": ticks})) == look_alike.pid
    earlier = ticks - os.sysconf("SC_CLK_TCK")  # a second earlier: another process that had this PID
    settings = _settings(tmp_path / "again", {"pid": look_alike.pid, "start_time": earlier})
    assert running_pid(settings) is None
    assert not settings.pid_file.exists(), "a stale PID file is removed"
