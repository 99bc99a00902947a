"""An environment frozen between invocations, as AWS freezes one once its runtime asks for the next event.

cgroup v1 ``freezer``: ``FROZEN`` stops every process of the sandbox (the runtime, its threads and children, the
sandbox's init) where it stands; ``THAWED`` lets them go on. The executor freezes the environment when the answer
has come and thaws it before it sends the next invoke. Only the sandbox's own processes are in the freezer cgroup:
bwrap's outer process and pasta, which only wait for them, are moved out of it (:meth:`Freezer.exempt`), so a freeze
or thaw wakes as few processes as possible. A frozen process dies of SIGKILL only once thawed: clearing a cgroup
thaws it after the kill (cgroups.py). The cost of each freeze + thaw is kept (the last :data:`SAMPLES`) and logged
when the environment ends.

The kernel switches its freezer code on when a freezer cgroup starts freezing and off when the last one thaws (a
static key: the kernel's code is patched each time, ~0.1 ms). An empty cgroup kept frozen for the LocalStack's
lifetime (:func:`keep_freezer_active`) keeps it on: a freeze or thaw of an environment then costs ~5 us.
Standard library only.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from embedded_localstack.service.sandbox.watcher import MemoryWatch

LOG = logging.getLogger(__name__)

SAMPLES = 10_000
KEEPER_NAME = "freezer-kept-active"


class Freezer:
    """One environment's freezer cgroup (``directory``; None: freezing is off); thread-safe."""

    def __init__(self, directory: Path | None) -> None:
        self._lock = threading.Lock()
        self._directory = directory
        self._fd = -1
        if directory is not None:
            try:
                self._fd = os.open(directory / "freezer.state", os.O_WRONLY | os.O_CLOEXEC)
            except OSError as error:
                LOG.warning("%s: cannot freeze it between invocations: %s", directory, error)
        self._frozen = False
        self._thaw_ms: float | None = None
        self.watch: MemoryWatch | None = None
        """The environment's memory watch: nothing to look at while frozen."""
        self.costs_ms: deque[float] = deque(maxlen=SAMPLES)
        """What each thaw + freeze cost (the writes of ``THAWED`` and ``FROZEN``)."""

    def exempt(self, pids: Iterable[int]) -> None:
        """Move these processes (bwrap's outer process, pasta) to the parent freezer cgroup: never frozen."""
        if self._directory is None:
            return
        for pid in pids:
            try:
                (self._directory.parent / "cgroup.procs").write_text(str(pid))
            except OSError as error:
                LOG.debug("%s: process %d stays in the freezer cgroup: %s", self._directory, pid, error)

    def freeze(self) -> None:
        with self._lock:
            if self._frozen or self._fd < 0:
                return
            if self.watch is not None:
                self.watch.pause()
            started = time.perf_counter()
            self._write(b"FROZEN")
            self._frozen = True
            if self._thaw_ms is not None:  # an invoke ends: its thaw and this freeze are what it cost
                self.costs_ms.append(self._thaw_ms + (time.perf_counter() - started) * 1000)
                self._thaw_ms = None

    def thaw(self) -> None:
        with self._lock:
            if self._frozen:
                started = time.perf_counter()
                self._write(b"THAWED")
                self._frozen = False
                self._thaw_ms = (time.perf_counter() - started) * 1000
        if self.watch is not None:
            self.watch.resume()

    def close(self, label: str) -> None:
        """No more freezing (the environment ends: clearing its cgroup thaws it); logs what freezing cost it."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        if self.costs_ms:
            LOG.info("%s: freeze/thaw per invoke: p50 %.3f ms over %d invokes", label,
                     statistics.median(self.costs_ms), len(self.costs_ms))  # fmt: skip

    def _write(self, state: bytes) -> None:
        try:
            os.write(self._fd, state)
        except OSError as error:
            LOG.warning("cannot write %s to %s: %s", state.decode(), self._directory, error)


def keep_freezer_active(owner: Path) -> None:
    """An empty freezer cgroup in ``owner`` (this LocalStack's), frozen until it is removed with the others."""
    keeper = owner / KEEPER_NAME
    try:
        keeper.mkdir(parents=True, exist_ok=True)
        (keeper / "freezer.state").write_text("FROZEN")
    except OSError as error:
        LOG.debug("no frozen keeper cgroup (%s): each freeze and thaw switches the kernel's freezer", error)
