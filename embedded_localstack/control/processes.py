"""Process identity (PID + start time) and process trees, groups and stopping them: the one place for both.

A PID alone does not name a process: PIDs get reused. Whatever the project records about a process (LocalStack's
PID file, run records, deploy records, LocalStack handles) stores its start time too, and a signal is sent only
after :func:`is_same_process` confirmed that the PID still runs that process.

The start time is in **seconds since boot** (a float): on Linux the kernel's own clock ticks since boot
(``/proc/<pid>/stat``), which never changes for a process and is not moved by clock adjustments, unlike a time
since the epoch (psutil derives that from the boot time, which the kernel reports in whole seconds and moves when
the clock is stepped). psutil makes this portable (Linux, macOS, the BSDs): nothing here reads ``/proc`` by hand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable
from typing import Protocol

import psutil

log = logging.getLogger(__name__)

START_TIME_TOLERANCE_S = 0.05
"""Two readings of one process's start time differ by float rounding only; a reused PID starts much later."""
INTERRUPT_GRACE_S = 60.0
"""How long a process group's leader gets after one SIGINT (Terraform: to stop and write its state) before the group
is killed."""
KILL_WAIT_S = 5.0
_POLL_S = 0.1


def start_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since boot; None when it does not run (or is a zombie) or is not ours to see."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time() - psutil.boot_time()
    except (psutil.Error, ProcessLookupError):
        return None


def this_process() -> tuple[int, float]:
    """This process's PID and start time: what names it in run records and temp dir names."""
    pid = os.getpid()
    started = start_time(pid)
    if started is None:  # pragma: no cover - a running process always has a start time
        raise RuntimeError(f"cannot read the start time of this process ({pid})")
    return pid, started


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (ended, waiting for its parent)."""
    return start_time(pid) is not None


def is_same_process(pid: int | None, started: float | None) -> bool:
    """True when ``pid`` still runs the process that started at ``started`` (a reused PID started later)."""
    if not pid or started is None:
        return False
    now = start_time(pid)
    return now is not None and abs(now - started) <= START_TIME_TOLERANCE_S


def process_tag(pid: int, started: float) -> str:
    """``<pid>-<start time in 1/100 s>``: names one process in file names (run records, temp dirs)."""
    return f"{pid}-{round(started * 100)}"


def command_line(pid: int) -> str:
    """The process's arguments joined by spaces ("" when it is gone or not ours to see)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, ProcessLookupError):
        return ""


def process_tree(root_pid: int) -> set[int]:
    """``root_pid`` and every descendant that still runs (zombies left out)."""
    children: dict[int, list[int]] = {}
    for process in psutil.process_iter(["ppid"]):
        children.setdefault(process.info["ppid"], []).append(process.pid)
    tree: set[int] = set()
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        if pid not in tree:
            tree.add(pid)
            pending.extend(children.get(pid, []))
    return {pid for pid in tree if is_running(pid)}


def group_members(pgid: int) -> set[int]:
    """Running (non-zombie) processes of process group ``pgid``."""
    members = set()
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pgid and is_running(process.pid):
                members.add(process.pid)
    return members


def signal_groups(pids: Iterable[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each process and to its process group (what is already gone is skipped)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_until_gone(pids: Iterable[int], timeout_s: float) -> set[int]:
    """Wait (bounded) until none of ``pids`` runs; returns those still running."""
    deadline = time.monotonic() + timeout_s
    alive = {pid for pid in pids if is_running(pid)}
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        alive = {pid for pid in alive if is_running(pid)}
    return alive


def _wait_group_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S * 2)
    return True


def stop_process_group(pid: int, started: float, grace_s: float = INTERRUPT_GRACE_S) -> bool:
    """Stop the process group led by ``pid`` if ``pid`` is still the recorded process; True if it ran.

    The leader gets one SIGINT (tflocal forwards it to Terraform, which then stops and writes its state); the rest
    of the group gets SIGKILL only after ``grace_s``.
    """
    if not is_same_process(pid, started):
        return False
    log.warning("stopping process group %d", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGCONT)  # a stopped (Ctrl-Z'd, frozen) group would never see the SIGINT
    if not _wait_group_gone(pid, grace_s):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait_group_gone(pid, KILL_WAIT_S)
    return True


class ProcessTracker(Protocol):
    """Told about every long-running process the harness starts (its run ledger records them).

    Such a process leads its own process group, so it outlives a SIGKILLed caller; the record lets the next run
    stop it (:func:`stop_process_group`).
    """

    def process_started(self, pid: int, command: str) -> None: ...

    def process_ended(self, pid: int) -> None: ...
