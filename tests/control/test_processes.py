"""Process identity (PID + start time) and stopping a process group: the one helper every part uses. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embedded_localstack.control import processes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def sleeper() -> subprocess.Popen[bytes]:
    process = subprocess.Popen(SLEEPER, start_new_session=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="compares with Linux's own clock ticks")
def test_start_time_is_the_kernels_seconds_since_boot(sleeper: subprocess.Popen[bytes]) -> None:
    ticks = int(Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    started = processes.start_time(sleeper.pid)
    assert started is not None
    assert abs(started - ticks / os.sysconf("SC_CLK_TCK")) < 0.001


def test_one_second_apart_is_another_process(sleeper: subprocess.Popen[bytes]) -> None:
    started = processes.start_time(sleeper.pid)
    assert started is not None
    assert processes.is_same_process(sleeper.pid, started)
    assert processes.is_same_process(sleeper.pid, started + 0.01)  # two readings differ by float rounding at most
    assert not processes.is_same_process(sleeper.pid, started - 1)
    assert not processes.is_same_process(sleeper.pid, None)


def test_a_zombie_does_not_run() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while processes.is_running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.is_running(child.pid), "an ended child that nobody waited for yet is a zombie"
    assert processes.start_time(child.pid) is None
    child.wait()


def test_this_process_is_named_by_its_own_start_time() -> None:
    pid, started = processes.this_process()
    assert pid == os.getpid()
    assert processes.is_same_process(pid, started)
    assert processes.process_tag(pid, started) == f"{pid}-{round(started * 100)}"


def test_a_group_is_interrupted_then_gone(sleeper: subprocess.Popen[bytes]) -> None:
    started = processes.start_time(sleeper.pid)
    assert started is not None
    assert processes.group_members(sleeper.pid) == {sleeper.pid}
    assert processes.stop_process_group(sleeper.pid, started, grace_s=10) is True
    assert sleeper.wait(timeout=10) != 0  # Python's default SIGINT handler: KeyboardInterrupt, exit 1
    assert processes.group_members(sleeper.pid) == set()
    assert processes.stop_process_group(sleeper.pid, started, grace_s=10) is False, "gone: nothing to stop"


def test_a_tree_holds_the_descendants() -> None:
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(processes.process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = processes.process_tree(parent.pid)
        assert parent.pid in tree and len(tree) == 2
        assert all("time.sleep(60)" in processes.command_line(pid) for pid in tree)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
