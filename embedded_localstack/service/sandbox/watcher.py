"""One thread of LocalStack that watches its environments' cgroups (v1): MemorySize with /tmp aside, and the caps.

**MemorySize, /tmp aside.** AWS counts a function's memory and its ephemeral storage separately. cgroup v1 charges
a tmpfs page to the memory cgroup of the process that writes it, so the sandbox's ``/tmp`` (a tmpfs) counts as
the function's memory, and no kernel setting charges it elsewhere. The kernel's limit is therefore MemorySize +
EphemeralStorage (a function filling ``/tmp`` is never killed or refused for it: ``/tmp`` answers ENOSPC when
full, as on AWS), and this thread enforces MemorySize for the rest: a threshold event at MemorySize
(``cgroup.event_control`` on ``memory.usage_in_bytes``) wakes it; while the environment is above that and not
frozen it checks every :data:`POLL_S` the usage less what ``/tmp`` holds (``statvfs`` of the sandbox's ``/tmp``
through ``/proc/<pid>/root``) and, once that reaches MemorySize, SIGKILLs the environment's largest process, as
the kernel's OOM killer does (the invoke answers ``Runtime.ExitError`` "signal: killed"). The kernel's limit
stays the backstop should this thread be late. (Disabling the kernel's OOM killer and raising the limit on its
event instead does not work: a ``write()`` to the tmpfs at the limit fails with ENOMEM instead of waiting.)

**Caps over all environments** (``EMBEDDED_LAMBDA_MAX_PROCESSES``, ``EMBEDDED_LAMBDA_MAX_MEMORY_MB``, on the
cgroup ``embedded-lambda-<LocalStack pid>``): checked every :data:`CAPS_POLL_S`; each time one was reached, a
warning in LocalStack's log says which and what it did to the functions.

Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedded_localstack.settings import MAX_MEMORY_VARIABLE, MAX_PROCESSES_VARIABLE

LOG = logging.getLogger(__name__)

MIB = 1 << 20
POLL_S = 0.02
"""How often an environment whose usage (with /tmp) is above MemorySize is checked while it runs."""
CAPS_POLL_S = 1.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


class MemoryWatch:
    """One environment's memory cgroup: its function may use ``memory_mb``, its /tmp aside."""

    def __init__(self, watcher: Watcher, directory: Path, memory_mb: int) -> None:
        self._watcher = watcher
        self.directory = directory
        self.limit_bytes = memory_mb * MIB
        self.running = True
        """False while the environment is frozen (nothing inside can allocate: no need to look)."""
        self.above = False
        """Its usage, /tmp included, was at or above MemorySize when last looked at."""
        self.closed = False
        self._sandbox_pid: int | None = None

    def pause(self) -> None:
        self.running = False

    def resume(self) -> None:
        self.running = True
        if self.above:  # the thread may be waiting for up to CAPS_POLL_S: it must look again now
            self._watcher.wake()

    def members(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.directory / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def tmp_bytes(self) -> int:
        """What the sandbox's /tmp holds (its tmpfs pages are charged to this cgroup), 0 if not found."""
        own = Path("/proc/self/ns/pid").stat().st_ino
        candidates = self.members()
        if self._sandbox_pid in candidates:
            candidates.insert(0, self._sandbox_pid)
        for pid in candidates:
            try:
                if Path(f"/proc/{pid}/ns/pid").stat().st_ino == own:
                    continue  # bwrap's outer process or pasta (outside the sandbox's pid namespace): not its /tmp
                stats = os.statvfs(f"/proc/{pid}/root/tmp")
            except OSError:
                continue
            self._sandbox_pid = pid
            return (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        return 0

    def check(self) -> bool:
        """Look once; True while the usage (with /tmp) is still at or above MemorySize."""
        usage = read_int(self.directory / "memory.usage_in_bytes")
        if usage is None or usage < self.limit_bytes:
            return False
        used = usage - self.tmp_bytes()
        if used >= self.limit_bytes:
            self._kill_largest(used)
        return True

    def _kill_largest(self, used: int) -> None:
        sizes = {}
        for pid in self.members():
            with contextlib.suppress(OSError, ValueError, IndexError):
                sizes[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        if not sizes:
            return
        victim = max(sizes, key=lambda pid: sizes[pid])
        LOG.info(
            "%s: memory other than /tmp reached MemorySize (%d of %d MB): killing its largest process %d",
            self.directory.name, used // MIB, self.limit_bytes // MIB, victim,
        )  # fmt: skip
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)


@dataclass
class Caps:
    """The caps on the cgroups of all environments of this LocalStack, and how often each was reached so far."""

    processes_dir: Path | None
    max_processes: int
    memory_dir: Path | None
    max_memory_mb: int
    seen: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        if "processes" not in self.seen and self._processes_reached():
            self.seen["processes"] = 1  # once: the peak says that it was reached, not how often
            LOG.warning(
                "the function environments of this LocalStack reached their cap of %d processes/threads together "
                "(%s): a function's fork or new thread fails meanwhile (EAGAIN, \"can't start new thread\") and "
                "new environments cannot start",
                self.max_processes, MAX_PROCESSES_VARIABLE,
            )  # fmt: skip
        failures = None if self.memory_dir is None else read_int(self.memory_dir / "memory.failcnt")
        if failures is not None and failures > self.seen.get("memory", 0):
            self.seen["memory"] = failures
            LOG.warning(
                "the function environments of this LocalStack reached their cap of %d MB of memory together "
                "(%s; %d times so far): the kernel reclaims their memory and, where it cannot, kills the largest "
                "process (that invoke answers Runtime.ExitError \"signal: killed\")",
                self.max_memory_mb, MAX_MEMORY_VARIABLE, failures,
            )  # fmt: skip

    def _processes_reached(self) -> bool:
        """The cgroup's peak (``pids.peak``; the current count where the kernel has no peak) reached the cap."""
        if self.processes_dir is None:
            return False
        count = read_int(self.processes_dir / "pids.peak")
        if count is None:
            count = read_int(self.processes_dir / "pids.current")
        return count is not None and count >= self.max_processes


class Watcher:
    """The watching thread (started with the first thing to watch) and what it watches; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoll: select.epoll | None = None
        self._wake_fd = -1
        self._pending: list[MemoryWatch] = []
        self._by_fd: dict[int, MemoryWatch] = {}
        self._caps: Caps | None = None

    def watch_memory(self, directory: Path, memory_mb: int) -> MemoryWatch:
        """Enforce ``memory_mb`` (MemorySize) on ``directory``'s memory other than /tmp, from now on."""
        watch = MemoryWatch(self, directory, memory_mb)
        with self._lock:
            self._pending.append(watch)  # registering a threshold takes the kernel ~20 ms: done by the thread
            self._start()
        self.wake()
        return watch

    def unwatch(self, watch: MemoryWatch) -> None:
        watch.closed = True
        self.wake()

    def watch_caps(self, caps: Caps) -> None:
        with self._lock:
            self._caps = caps
            self._start()

    def wake(self) -> None:
        if self._wake_fd >= 0:
            with contextlib.suppress(OSError):
                os.eventfd_write(self._wake_fd, 1)

    def _start(self) -> None:
        if self._epoll is not None:
            return
        self._epoll = select.epoll()
        self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        threading.Thread(target=self._run, name="cgroup-watcher", daemon=True).start()

    def _run(self) -> None:
        assert self._epoll is not None
        next_caps = 0.0
        while True:
            watches = list(self._by_fd.values())
            busy = any(watch.above and watch.running for watch in watches)
            try:
                ready = self._epoll.poll(POLL_S if busy else CAPS_POLL_S)
                for fd, _ in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(fd)
                    if (watch := self._by_fd.get(fd)) is not None:
                        watch.above = True  # a crossing of MemorySize (either way): look now
                self._arm_pending()
                for fd, watch in list(self._by_fd.items()):
                    if watch.closed:
                        self._drop(fd)
                    elif watch.above and watch.running:
                        watch.above = watch.check()
                if time.monotonic() >= next_caps:
                    next_caps = time.monotonic() + CAPS_POLL_S
                    if self._caps is not None:
                        self._caps.check()
            except Exception:  # the thread must live on: the kernel's limits hold meanwhile
                LOG.exception("cgroup watcher")
                time.sleep(CAPS_POLL_S)

    def _arm_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for watch in pending:
            if watch.closed:
                continue
            try:
                fd = _threshold_event(watch.directory, watch.limit_bytes)
            except OSError as error:
                LOG.warning("%s: no memory threshold event (%s): MemorySize + EphemeralStorage applies",
                            watch.directory, error)  # fmt: skip
                continue
            assert self._epoll is not None
            self._by_fd[fd] = watch
            self._epoll.register(fd, select.EPOLLIN)
            watch.above = True  # it may have crossed MemorySize before the event existed: look once

    def _drop(self, fd: int) -> None:
        del self._by_fd[fd]
        assert self._epoll is not None
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        os.close(fd)  # the kernel removes the event with it


def _threshold_event(directory: Path, threshold: int) -> int:
    """An eventfd the kernel signals whenever the cgroup's memory usage crosses ``threshold`` (either way)."""
    event = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    try:
        usage = os.open(directory / "memory.usage_in_bytes", os.O_RDONLY | os.O_CLOEXEC)
        try:
            (directory / "cgroup.event_control").write_text(f"{event} {usage} {threshold}")
        finally:
            os.close(usage)
    except OSError:
        os.close(event)
        raise
    return event


WATCHER = Watcher()
