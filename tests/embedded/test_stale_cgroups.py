"""What a killed LocalStack leaves in its cgroups is ended by its reaper, or when the next one starts; a running
LocalStack's is never touched.

Real cgroups (v1 memory, pids, cpu and freezer, as the sandbox uses them) and real processes: a sleeper in a cgroup
named after a LocalStack PID that no longer runs, another in one named after a running process. The leftovers are
frozen, as an environment is between invocations: a frozen process dies of SIGKILL only once thawed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import alive, wait_until

from embedded_localstack.service.sandbox import cgroups


def _dead_pid() -> int:
    """A PID whose process has ended (and was reaped) just now."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _cgroups(owner: int) -> list[Path]:
    parents = [cgroups.own_cgroup(controller) for controller in cgroups.CONTROLLERS]
    assert all(parent is not None and parent.is_dir() for parent in parents), "cgroup v1 hierarchies needed"
    return [parent / f"embedded-lambda-{owner}" / "env-leftover" for parent in parents if parent is not None]


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        _thaw(process.pid)
        process.wait()


def _thaw(pid: int) -> None:
    """Thaw the freezer cgroup of ``pid`` (a frozen process dies of a SIGKILL only once thawed)."""
    with contextlib.suppress(OSError, StopIteration):
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        path = next(line.split(":", 2)[2] for line in lines if line.split(":")[1] == "freezer")
        (cgroups.CGROUP_ROOT / "freezer" / path.lstrip("/") / "freezer.state").write_text("THAWED")


def _sleeper_in(cgroups: list[Path], sleepers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """A sleeping process in these cgroups, frozen (as an environment between invocations)."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    sleepers.append(process)
    for directory in cgroups:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cgroup.procs").write_text(str(process.pid))
    state = next(directory for directory in cgroups if (directory / "freezer.state").exists()) / "freezer.state"
    state.write_text("FROZEN")
    assert wait_until(lambda: state.read_text().strip() == "FROZEN", timeout_s=10)
    return process


def test_leftovers_of_a_killed_localstack_are_ended_and_a_running_ones_are_not(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    stale = _cgroups(_dead_pid())
    leftover = _sleeper_in(stale, sleepers)
    keeper = subprocess.Popen(["sleep", "120"], start_new_session=True)  # stands for a running LocalStack
    sleepers.append(keeper)
    running = _cgroups(keeper.pid)
    survivor = _sleeper_in(running, sleepers)
    try:
        cgroups.remove_stale_cgroups()
        assert wait_until(lambda: leftover.poll() is not None, timeout_s=10), "the leftover process still runs"
        assert not any(directory.parent.exists() for directory in stale), "the stale cgroups are removed"
        assert alive(survivor.pid), "a running LocalStack's environment is never touched"
        assert all(directory.is_dir() for directory in running)
    finally:
        survivor.kill()
        _thaw(survivor.pid)
        survivor.wait()
        for directory in running:
            directory.rmdir()
            directory.parent.rmdir()


def test_the_reaper_ends_what_is_left_when_its_localstack_ends(sleepers: list[subprocess.Popen[bytes]]) -> None:
    """The reaper waits on a pidfd of its LocalStack (here a stand-in) and then ends its cgroups' leftovers."""
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time; from embedded_localstack.service.sandbox import cgroups; "
         "print(cgroups.start_reaper().pid, flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # the reaper's too
        start_new_session=True,
    )  # fmt: skip
    sleepers.append(owner)
    assert owner.stdout is not None and owner.stderr is not None
    reaper = int(owner.stdout.readline())
    leftover = _sleeper_in(_cgroups(owner.pid), sleepers)
    assert f"reaper {reaper}: watching LocalStack {owner.pid}" in owner.stderr.readline().decode()
    time.sleep(0.5)
    assert alive(leftover.pid), "nothing is ended while its LocalStack runs"
    os.kill(owner.pid, signal.SIGKILL)
    assert wait_until(lambda: leftover.poll() is not None, timeout_s=10), "the leftover outlived its LocalStack"
    assert leftover.returncode == -signal.SIGKILL
    assert wait_until(lambda: not alive(reaper), timeout_s=10), "the reaper exits when done"
    assert not any(directory.parent.exists() for directory in _cgroups(owner.pid)), "its cgroups are removed"
    assert f"ending 1 process(es) left by LocalStack {owner.pid}" in owner.stderr.read().decode()


@pytest.mark.parametrize("argv", [["not-a-pid", "3"], ["0", "3"], ["123"], ["1", "0"], [str(os.getpid()), "999"]])
def test_the_reaper_refuses_bad_usage(argv: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "embedded_localstack.service.reaper", *argv], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2
    assert "usage: python -m embedded_localstack.service.reaper <LocalStack pid> <pidfd of it>" in run.stderr


def test_the_reaper_refuses_a_descriptor_that_is_no_pidfd_of_that_process() -> None:
    """A pidfd of another process (here: of this test) is refused: the reaper would clear the wrong cgroups."""
    pidfd = os.pidfd_open(os.getpid())
    try:
        run = subprocess.run(
            [sys.executable, "-m", "embedded_localstack.service.reaper", "1", str(pidfd)],
            capture_output=True, text=True, timeout=30, pass_fds=(pidfd,),
        )  # fmt: skip
    finally:
        os.close(pidfd)
    assert run.returncode == 2
    assert f"descriptor {pidfd} is not a pidfd of process 1" in run.stderr
