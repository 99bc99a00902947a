"""Process inspection through psutil: identity (PID + start time), process groups, stopping a group.

A PID alone does not name a process: PIDs get reused. Everything the harness records about a process
(run records, deploy records, LocalStack handles) stores its start time too, and every signal is sent only
after :func:`is_same_process` confirmed the PID still belongs to that process. psutil works on Linux, macOS
and the BSDs, so none of this reads ``/proc`` by hand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from typing import Protocol

import psutil

log = logging.getLogger(__name__)

START_TIME_TOLERANCE_S = 1.5
"""psutil derives start times from the boot time, which the kernel reports in whole seconds and which
moves by a second when the clock is adjusted; a reused PID starts far later than that."""
INTERRUPT_GRACE_S = 60.0
KILL_WAIT_S = 5.0


def start_time(pid: int) -> float | None:
    """The process's start time (seconds since the epoch), or None when it does not run or is a zombie."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def process_tag(pid: int, started: float) -> str:
    """``<pid>-<start time in 1/100 s>``: names one process in file names (run records, socket dirs)."""
    return f"{pid}-{int(started * 100)}"


def is_same_process(pid: int | None, started: float | None) -> bool:
    """True when ``pid`` still runs the process that started at ``started`` (PID reuse gives another time)."""
    if not pid or started is None:
        return False
    now = start_time(pid)
    return now is not None and abs(now - started) <= START_TIME_TOLERANCE_S


def is_running(pid: int) -> bool:
    return start_time(pid) is not None


def group_members(pgid: int) -> set[int]:
    """Running (non-zombie) processes of process group ``pgid``."""
    members = set()
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError, OSError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.add(process.pid)
    return members


def _wait_group_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_process_group(pid: int, started: float, grace_s: float = INTERRUPT_GRACE_S) -> bool:
    """Stop the process group led by ``pid`` if ``pid`` is still the recorded process; True if it ran.

    The leader gets one SIGINT (tflocal forwards it to Terraform, which then stops and writes its state);
    the rest of the group gets SIGKILL only after ``grace_s``.
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
    """Told about every long-running process the harness starts (e.g. :class:`lambda_url_harness.runs.RunLedger`).

    Such a process leads its own process group, so it outlives a SIGKILLed caller; a tracker's record lets
    the next run stop it (:func:`stop_process_group`).
    """

    def process_started(self, pid: int, command: str) -> None: ...

    def process_ended(self, pid: int) -> None: ...
