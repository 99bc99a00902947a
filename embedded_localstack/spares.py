"""Pre-started spare runtime processes: interpreter start-up off the cold start's critical path.

A spare is ``<python3.x> -I -S -B -u runtime/bootstrap.py <fd>`` started exactly like an environment's process
(same flags, same bootstrap, own process group) with a minimal environment plus ``EMBEDDED_LAMBDA_SPARE=1``.
It imports only the bootstrap's standard-library modules and blocks on its socket before anything of a function
is known. When an environment starts, the executor hands it one frame (``C``: the function's complete
environment and working directory) plus the environment's log file descriptor; the spare redirects stdout/stderr
to it, replaces ``os.environ`` wholesale, calls ``time.tzset()``, changes directory and then runs the same init
as a freshly spawned process (``sys.path``, handler import, *ready*). A new spare is started in the background
once that environment is ready, so it never competes with a cold start for CPU.

A spare is used only when the function's start-up-relevant variables (``LANG``, ``LC_*``) equal the spare's:
the interpreter reads them while starting (locale, UTF-8 mode), so a differing function gets a fresh process.
Spares belong to no function: they are not stopped with a function's environments, hold no code and no
credentials, exit at end of file on their socket or when LocalStack is gone, and are in LocalStack's process
tree, so ``make stop`` ends them. ``EMBEDDED_LAMBDA_SPARES=0`` (when LocalStack starts) turns them off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from embedded_localstack.runtime.bootstrap import SPARE_MARKER

LOG = logging.getLogger(__name__)

SWITCH_VARIABLE = "EMBEDDED_LAMBDA_SPARES"
MINIMUM_VERSION = (3, 9)
"""Adoption receives the log file descriptor with ``socket.recv_fds``, which Python has since 3.9."""
SPARE_LANG = "en_US.UTF-8"
KILL_WAIT_S = 5.0


def can_run_spares(version: tuple[int, int]) -> bool:
    """Whether an interpreter of this Python version can be a spare (older ones always start afresh)."""
    return version >= MINIMUM_VERSION


def is_startup_variable(name: str) -> bool:
    return name == "LANG" or name.startswith("LC_")


@dataclass
class Spare:
    process: subprocess.Popen[bytes]
    channel: socket.socket
    """Our end of the socket pair; the adopter owns both from ``take`` on."""


class SparePool:
    """At most one idle spare per interpreter; thread-safe (LocalStack starts environments concurrently)."""

    def __init__(self, bootstrap: Path, flags: tuple[str, ...], environ: Mapping[str, str] | None = None) -> None:
        self._bootstrap = bootstrap
        self._flags = flags
        self._enabled = (os.environ if environ is None else environ).get(SWITCH_VARIABLE, "1") != "0"
        self._lock = threading.Lock()
        self._idle: dict[Path, Spare] = {}
        self._starting: set[Path] = set()

    @staticmethod
    def spare_environment(interpreter: Path) -> dict[str, str]:
        # Never LC_CTYPE: if it is set after start, the interpreter's locale coercion set it (bootstrap relies on it).
        return {"PATH": f"{interpreter.parent}:/usr/local/bin:/usr/bin:/bin", "LANG": SPARE_LANG, SPARE_MARKER: "1"}

    def fits(self, interpreter: Path, function_environment: Mapping[str, str]) -> bool:
        """True if a spare started for ``interpreter`` would have started exactly like this function's process."""
        spare_env = self.spare_environment(interpreter)
        names = {n for n in (*function_environment, *spare_env) if is_startup_variable(n)}
        return all(function_environment.get(n) == spare_env.get(n) for n in names)

    def take(self, interpreter: Path) -> Spare | None:
        """The idle spare for ``interpreter`` if it is alive (the caller adopts it), else None."""
        if not self._enabled:
            return None
        with self._lock:
            spare = self._idle.pop(interpreter, None)
        if spare is not None and spare.process.poll() is not None:
            LOG.warning("spare %s for %s had exited (%s); starting afresh", spare.process.pid, interpreter,
                        spare.process.returncode)  # fmt: skip
            spare.channel.close()
            return None
        return spare

    def replenish_in_background(self, interpreter: Path, packages: str = "") -> None:
        """Start a spare for ``interpreter`` in a daemon thread unless one is idle or starting; ``packages`` is the
        runtime packages directory its bootstrap puts on ``sys.path`` ("" for none)."""
        if not self._enabled:
            return
        with self._lock:
            if interpreter in self._idle or interpreter in self._starting:
                return
            self._starting.add(interpreter)
        threading.Thread(target=self._start, args=(interpreter, packages), name="spare-runtime", daemon=True).start()

    def _start(self, interpreter: Path, packages: str) -> None:
        ours, theirs = socket.socketpair()
        packages = packages if packages and Path(packages).is_dir() else ""
        try:
            process = subprocess.Popen(
                [str(interpreter), *self._flags, str(self._bootstrap), str(theirs.fileno()), packages],
                env=self.spare_environment(interpreter),
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the adopter hands over the environment's log file
                stderr=subprocess.DEVNULL,
                close_fds=True,
                pass_fds=(theirs.fileno(),),
                process_group=0,  # as for spawned environments: stopping one ends the handler's children too
            )
        except OSError as error:
            LOG.warning("cannot start a spare for %s: %s", interpreter, error)
            ours.close()
            with self._lock:
                self._starting.discard(interpreter)
            return
        finally:
            theirs.close()
        with self._lock:
            self._starting.discard(interpreter)
            previous = self._idle.pop(interpreter, None)
            self._idle[interpreter] = Spare(process, ours)
        if previous is not None:  # cannot happen under the lock discipline above; never leave one running
            end_spare(previous)
        LOG.debug("spare runtime %s started for %s", process.pid, interpreter)


def end_spare(spare: Spare) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(spare.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        spare.process.wait(timeout=KILL_WAIT_S)
    spare.channel.close()
