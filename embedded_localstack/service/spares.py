"""Pre-started spare runtime processes: interpreter start-up off the cold start's critical path.

A spare is started by the one launcher (:func:`embedded_localstack.service.sandbox.launch.launch`) exactly like an
environment's process: same command line, flags, bootstrap, sandbox shape and process group, with the runtime's base
environment plus ``EMBEDDED_LAMBDA_SPARE=1``. It imports only the bootstrap's standard-library modules and blocks
on its socket before anything of a function is known. When an environment starts, the executor hands it one
frame (``C``: the function's complete environment and working directory) plus the environment's output pipe
descriptor; the spare redirects stdout/stderr to it, replaces ``os.environ`` wholesale, calls ``time.tzset()``,
changes directory and then runs the same init as a freshly spawned process (``sys.path``, handler import,
*ready*). A new spare is started in the background once that environment is ready.

Sandboxed, a spare's ``/var/task`` is bound read-only from a directory of its own (empty while it waits); before
adoption the executor fills that directory with the function's code (hard links), and sets the memory limit on
the spare's cgroup. ``/tmp`` is sized when the sandbox is built, so only functions with the default
EphemeralStorage use spares.

A spare is used only when the function's start-up variables (:func:`embedded_localstack.service.sandbox.layout.
is_startup_variable`: ``LANG``, ``LC_*``, ``LD_*``, ``GLIBC_*``, ``MALLOC_*``, ...) equal the spare's: the loader,
libc and the interpreter read them while starting, so a differing function gets a fresh process. Spares belong to
no function: they are not stopped with a function's environments, hold no code of their own and no credentials,
exit at end of file on their socket or when LocalStack is gone, and are in LocalStack's process tree, so
``make stop`` ends them. ``EMBEDDED_LAMBDA_SPARES=0`` (when LocalStack starts) turns them off.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from embedded_localstack.runtime.bootstrap import SPARE_MARKER
from embedded_localstack.service.sandbox.cgroups import Cgroup
from embedded_localstack.service.sandbox.hostside import NO_CONFINEMENT, Confinement
from embedded_localstack.service.sandbox.launch import end_environment, launch
from embedded_localstack.service.sandbox.layout import (
    DEFAULT_EPHEMERAL_MB,
    LaunchSpec,
    base_environment,
    is_startup_variable,
)

LOG = logging.getLogger(__name__)

SWITCH_VARIABLE = "EMBEDDED_LAMBDA_SPARES"
MINIMUM_VERSION = (3, 9)
"""Adoption receives the output pipe's descriptor with ``socket.recv_fds``, which Python has since 3.9."""


def can_run_spares(version: tuple[int, int]) -> bool:
    """Whether an interpreter of this Python version can be a spare (older ones always start afresh)."""
    return version >= MINIMUM_VERSION


@dataclass
class Spare:
    process: subprocess.Popen[bytes]
    channel: socket.socket
    """Our end of the socket pair; the adopter owns both from ``take`` on."""
    task_root: Path | None = None
    """Sandboxed: the host directory bound at /var/task, filled with the code on adoption."""
    cgroup: Cgroup | None = None


class SparePool:
    """At most one idle spare per runtime; thread-safe (LocalStack starts environments concurrently)."""

    def __init__(
        self,
        sandboxed: Callable[[], bool],
        gateway_port: Callable[[], int | None] = lambda: None,
        environ: Mapping[str, str] | None = None,
        confinement: Callable[[], Confinement] = lambda: NO_CONFINEMENT,
    ) -> None:
        self._sandboxed = sandboxed
        self._gateway_port = gateway_port
        self._confinement = confinement
        self._enabled = (os.environ if environ is None else environ).get(SWITCH_VARIABLE, "1") != "0"
        self._lock = threading.Lock()
        self._idle: dict[str, Spare] = {}
        self._starting: set[str] = set()

    def spare_environment(self, runtime: str, interpreter: Path) -> dict[str, str]:
        # Never LC_CTYPE: if it is set after start, the interpreter's locale coercion set it (bootstrap relies on it).
        base = base_environment(self._sandboxed(), runtime, Path("/"), interpreter)
        return {**base, SPARE_MARKER: "1"}

    def fits(self, runtime: str, interpreter: Path, function_environment: Mapping[str, str], tmp_mb: int) -> bool:
        """True if a spare started for ``runtime`` would have started exactly like this function's process."""
        if tmp_mb != DEFAULT_EPHEMERAL_MB:
            return False
        spare_env = self.spare_environment(runtime, interpreter)
        names = {n for n in (*function_environment, *spare_env) if is_startup_variable(n)}
        return all(function_environment.get(n) == spare_env.get(n) for n in names)

    def take(self, runtime: str) -> Spare | None:
        """The idle spare for ``runtime`` if it is alive (the caller adopts it), else None."""
        if not self._enabled:
            return None
        with self._lock:
            spare = self._idle.pop(runtime, None)
        if spare is not None and spare.process.poll() is not None:
            LOG.warning("spare %s for %s had exited (%s); starting afresh", spare.process.pid, runtime,
                        spare.process.returncode)  # fmt: skip
            end_spare(spare)
            return None
        return spare

    def replenish_in_background(self, runtime: str, interpreter: Path) -> None:
        """Start a spare for ``runtime`` in a daemon thread unless one is idle or starting."""
        if not self._enabled:
            return
        with self._lock:
            if runtime in self._idle or runtime in self._starting:
                return
            self._starting.add(runtime)
        threading.Thread(target=self._start, args=(runtime, interpreter), name="spare-runtime", daemon=True).start()

    def _start(self, runtime: str, interpreter: Path) -> None:
        try:
            spare: Spare | None = self._launch(runtime, interpreter)
        except Exception as error:  # a spare only saves time: no failure may keep later ones from starting
            LOG.warning("cannot start a spare for %s: %s", runtime, error)
            spare = None
        with self._lock:
            self._starting.discard(runtime)
            previous = self._idle.pop(runtime, None) if spare is not None else None
            if spare is not None:
                self._idle[runtime] = spare
        if previous is not None:  # cannot happen under the lock discipline above; never leave one running
            end_spare(previous)
        if spare is not None:
            LOG.debug("spare runtime %s started for %s", spare.process.pid, runtime)

    def _launch(self, runtime: str, interpreter: Path) -> Spare:
        """One spare process; everything made for it is removed again if it cannot start."""
        sandboxed = self._sandboxed()
        task_root = cgroup = None
        ours = None
        try:
            if sandboxed:
                task_root = spares_dir() / uuid.uuid4().hex[:12]
                task_root.mkdir()
                task_root.chmod(0o755)  # /var/task's mode, as on AWS (spares_dir itself is private)
                cgroup = Cgroup(f"spare-{task_root.name}")
            ours, theirs = socket.socketpair()
            try:
                spec = LaunchSpec(
                    sandboxed,
                    runtime,
                    interpreter,
                    task_root or Path("/"),
                    theirs.fileno(),
                    gateway_port=self._gateway_port(),
                    confinement=self._confinement(),
                )
                # The adopter hands over the environment's output pipe.
                process = launch(spec, self.spare_environment(runtime, interpreter), subprocess.DEVNULL, cgroup)
            finally:
                theirs.close()
        except BaseException:
            end_environment("spare being started", None, cgroup, task_root, ours)
            raise
        return Spare(process, ours, task_root, cgroup)


def spares_dir() -> Path:
    directory = Path(tempfile.gettempdir()) / "embedded-lambda-spares"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def end_spare(spare: Spare) -> None:
    end_environment(f"spare {spare.process.pid}", spare.process, spare.cgroup, spare.task_root, spare.channel)
