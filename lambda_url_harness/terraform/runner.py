"""Running one Terraform (tflocal) command as a subprocess: bounded in time, its output captured, and the one place
that signals it.

A command runs in its own process group (so a SIGKILLed harness leaves it finishing, and the run ledger can stop it
later). On a timeout it is interrupted like Ctrl-C: one SIGINT to tflocal, which forwards it to Terraform, which
then stops gracefully and writes its state; signalling the whole group would deliver two, and a second SIGINT makes
Terraform abort without saving state. Only after
:data:`~embedded_localstack.control.processes.INTERRUPT_GRACE_S` is the group killed.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from embedded_localstack.control.processes import INTERRUPT_GRACE_S, ProcessTracker
from lambda_url_harness.errors import TerraformError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompletedCommand:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[list[str], Path, Mapping[str, str], float], CompletedCommand]
"""Signature of :func:`run_bounded` as the command lines use it; tests substitute a recorder."""


def run_bounded(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    *,
    tracker: ProcessTracker | None = None,
    echo: Callable[[str], None] | None = None,
) -> CompletedCommand:
    """Run ``argv`` capturing output; on timeout interrupt it like Ctrl-C, then kill its process group.

    ``tracker`` records the process while it runs (a killed run's successor stops it); ``echo`` receives each output
    line as it arrives (live Terraform output), besides the capture.
    """
    log.debug("running %s in %s", shlex.join(argv), cwd)
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if tracker is not None:
        tracker.process_started(process.pid, shlex.join([Path(argv[0]).name, *argv[1:2]]))
    try:
        if echo is not None:
            echo(f"$ {shlex.join([Path(argv[0]).name, *argv[1:]])}  (in {cwd})")
            return _communicate_bounded(_EchoingProcess(process, echo), argv, cwd, timeout_s)
        return _communicate_bounded(process, argv, cwd, timeout_s)
    finally:
        if tracker is not None:
            tracker.process_ended(process.pid)


class _EchoingProcess:
    """The part of ``Popen`` that :func:`_communicate_bounded` uses, passing each line to ``echo`` as it comes."""

    def __init__(self, process: subprocess.Popen[str], echo: Callable[[str], None]) -> None:
        self._process = process
        self.pid = process.pid
        self._chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}
        streams = {"stdout": process.stdout, "stderr": process.stderr}
        self._readers = [
            threading.Thread(target=self._pump, args=(stream, name, echo), daemon=True)
            for name, stream in streams.items()
            if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str], name: str, echo: Callable[[str], None]) -> None:
        for line in iter(stream.readline, ""):
            self._chunks[name].append(line)
            echo(line.rstrip("\n"))
        stream.close()

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def send_signal(self, sig: int) -> None:
        self._process.send_signal(sig)

    def wait(self) -> int:
        return self._process.wait()

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self._process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return "".join(self._chunks["stdout"]), "".join(self._chunks["stderr"])


def _communicate_bounded(
    process: subprocess.Popen[str] | _EchoingProcess, argv: list[str], cwd: Path, timeout_s: float
) -> CompletedCommand:
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        raise TerraformError(argv, cwd, process.returncode, stdout, stderr, timed_out_after_s=timeout_s) from None
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM, which the pytest plugin turns into one): the command is in its own session, so the
        # terminal's SIGINT reached only us. Pass it on as Terraform expects one, and let it stop and write its state.
        _interrupt(process, argv)
        raise
    except BaseException:
        # Anything else unwinding through here: leave no orphaned terraform behind.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    assert process.returncode is not None  # communicate() returned: the process has ended
    return CompletedCommand(argv, process.returncode, stdout, stderr)


def _interrupt(process: subprocess.Popen[str] | _EchoingProcess, argv: list[str]) -> None:
    """One SIGINT to the command (tflocal forwards it to Terraform, which stops its operations, writes its state and
    exits; tflocal then removes its override file), and wait for it to end, bounded by
    :data:`~embedded_localstack.control.processes.INTERRUPT_GRACE_S`. More interrupts meanwhile are not passed on (a
    second SIGINT makes Terraform abort without writing its state); after the grace period the group is killed."""
    log.warning(
        "interrupted: waiting up to %.0f s for `%s` to stop and write its state", INTERRUPT_GRACE_S, Path(argv[0]).name
    )
    process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    while True:
        try:
            process.communicate(timeout=max(0.0, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            log.warning("`%s` did not stop within %.0f s; killing it", Path(argv[0]).name, INTERRUPT_GRACE_S)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return
        except KeyboardInterrupt:
            log.warning("interrupted again: still waiting for Terraform to write its state")
