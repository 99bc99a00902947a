"""An environment's cgroups (v1 memory, pids, cpu, freezer), the caps over all environments of this LocalStack,
and clearing what a dead LocalStack left in them (the reaper)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from embedded_localstack.service.limits import MAX_PROCESSES
from embedded_localstack.service.sandbox.freezer import Freezer, keep_freezer_active
from embedded_localstack.service.sandbox.watcher import MIB, WATCHER, Caps, MemoryWatch, read_int
from embedded_localstack.settings import MIN_MAX_MEMORY_MB, ResourceSettings

LOG = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# -- cgroups ---------------------------------------------------------------------------------------------------
CONTROLLERS = ("memory", "pids", "cpu", "freezer")
"""The cgroup v1 controllers of an environment: memory, processes, CPU quota, freezing between invocations."""
CPU_PERIOD_US = 100_000
AWS_MB_PER_VCPU = 1769
"""AWS: "At 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits per second)"."""
MIN_CPU_QUOTA_US = 1000
"""The kernel's smallest CFS quota."""


def cpu_quota_us(memory_mb: int, cpu: str) -> int:
    """An environment's CPU time per period of :data:`CPU_PERIOD_US`: one core (``core``), or AWS's proportion to
    MemorySize (``aws``)."""
    if cpu == "aws":
        return max(MIN_CPU_QUOTA_US, round(CPU_PERIOD_US * memory_mb / AWS_MB_PER_VCPU))
    return CPU_PERIOD_US


def owner_cgroup_name(owner: int | str) -> str:
    """Name of the cgroup (per controller) that holds LocalStack ``owner``'s environment cgroups."""
    return f"embedded-lambda-{owner}"


def own_cgroup(controller: str) -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return CGROUP_ROOT / controller / path.lstrip("/")
    except OSError:
        return None
    return None


_CGROUP_WARNED: set[str] = set()


# -- the caps over all environments of this LocalStack -------------------------------------------------------------
def default_max_processes() -> int:
    """A quarter of the kernel's ``pid_max``, at most 8,192 (the host keeps the rest)."""
    pid_max = read_int(Path("/proc/sys/kernel/pid_max")) or 32768
    return min(pid_max // 4, 8192)


def default_max_memory_mb() -> int:
    """Three quarters of the memory the host has, or LocalStack's own memory cgroup if that allows less."""
    total_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    total = total_kb * 1024
    own = own_cgroup("memory")
    with contextlib.suppress(OSError, ValueError, StopIteration):
        stat = (own / "memory.stat").read_text().splitlines() if own is not None else []
        cgroup_limit = next(int(line.split()[1]) for line in stat if line.startswith("hierarchical_memory_limit "))
        total = min(total, cgroup_limit) if total else cgroup_limit
    return max(total * 3 // 4 // MIB, MIN_MAX_MEMORY_MB)


def limit_all_environments(settings: ResourceSettings) -> None:
    """The caps over all environments of this LocalStack on its cgroups ``embedded-lambda-<pid>``, and their watch
    (a warning in the log each time one is reached)."""
    processes = settings.max_processes or default_max_processes()
    memory_mb = settings.max_memory_mb or default_max_memory_mb()
    directories: dict[str, Path | None] = {}
    caps = (("pids", "pids.max", processes), ("memory", "memory.limit_in_bytes", memory_mb * MIB))
    for controller, name, value in caps:
        parent = own_cgroup(controller)
        directory = parent / owner_cgroup_name(os.getpid()) if parent is not None else None
        try:
            if directory is None:
                raise OSError(f"no cgroup v1 {controller} hierarchy")
            directory.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(str(value))
        except OSError as error:
            LOG.warning("function environments: no cap of %s over all of them (%s)", name, error)
            directory = None
        directories[controller] = directory
    WATCHER.watch_caps(Caps(directories["pids"], processes, directories["memory"], memory_mb))
    if (freezer := own_cgroup("freezer")) is not None:
        keep_freezer_active(freezer / owner_cgroup_name(os.getpid()))
    cpu = "MemorySize / 1,769 MB vCPUs" if settings.cpu == "aws" else "one core"
    LOG.info("function environments of this LocalStack: at most %d processes/threads and %d MB together; "
             "CPU of each: %s", processes, memory_mb, cpu)  # fmt: skip


class Cgroup:
    """One environment's cgroups (v1); a controller whose cgroup cannot be created is left out (that limit is off)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dirs: dict[str, Path] = {}
        self._memory: MemoryWatch | None = None
        for controller in CONTROLLERS:
            parent = own_cgroup(controller)
            if parent is None:
                continue
            directory = parent / owner_cgroup_name(os.getpid()) / name
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                if controller not in _CGROUP_WARNED:
                    _CGROUP_WARNED.add(controller)
                    LOG.warning("no %s cgroup for function environments (%s): that limit is off", controller, error)
                continue
            self.dirs[controller] = directory
        self._write("pids", "pids.max", str(MAX_PROCESSES))
        self._write("cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US))
        self._write("cpu", "cpu.cfs_quota_us", str(CPU_PERIOD_US))  # one core until the function's is known
        self.freezer = Freezer(self.dirs.get("freezer"))

    def _write(self, controller: str, name: str, value: str) -> bool:
        directory = self.dirs.get(controller)
        if directory is None:
            return False
        try:
            (directory / name).write_text(value)
        except OSError as error:
            LOG.warning("cannot set %s=%s in %s: %s", name, value, directory, error)
            return False
        return True

    def rename(self, name: str) -> None:
        """Adopted spare: its cgroups take the environment's name (cgroup v1 allows renaming a cgroup)."""
        self.name = name
        for controller, directory in list(self.dirs.items()):
            try:
                self.dirs[controller] = directory.rename(directory.with_name(name))
            except OSError as error:
                LOG.debug("cannot rename %s to %s: %s", directory, name, error)

    def limit(self, memory_mb: int, tmp_mb: int, cpu: str) -> None:
        """The function's limits: MemorySize for its memory, its /tmp (``tmp_mb``, a tmpfs) aside (the kernel's limit
        is both, the watcher enforces MemorySize for the rest: watcher.py), and its share of CPU."""
        if self._write("memory", "memory.limit_in_bytes", str((memory_mb + tmp_mb) * MIB)):
            self._write("memory", "memory.swappiness", "0")
            self._memory = self.freezer.watch = WATCHER.watch_memory(self.dirs["memory"], memory_mb)
        self._write("cpu", "cpu.cfs_quota_us", str(cpu_quota_us(memory_mb, cpu)))

    def freeze(self) -> None:
        """Stop every process of the sandbox until :meth:`thaw` (freezer.py)."""
        self.freezer.freeze()

    def thaw(self) -> None:
        self.freezer.thaw()

    def max_memory_mb(self) -> int | None:
        directory = self.dirs.get("memory")
        with contextlib.suppress(OSError, ValueError):
            if directory is not None:
                return int((directory / "memory.max_usage_in_bytes").read_text()) // (1024 * 1024)
        return None

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` files a process writes its pid to to join these cgroups (hostside.py's prefix)."""
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def members(self) -> set[int]:
        return _members(self.dirs.values())

    def destroy(self) -> None:
        """SIGKILL whatever is still inside (a setsid or double-forked child, a frozen process), remove the cgroups."""
        if self._memory is not None:
            WATCHER.unwatch(self._memory)
            self._memory = None
        self.freezer.close(self.name)
        _kill_members_and_remove(self.dirs.values())
        self.dirs = {}


def _members(directories: Iterable[Path]) -> set[int]:
    found: set[int] = set()
    for directory in directories:
        with contextlib.suppress(OSError, ValueError):
            found |= {int(p) for p in (directory / "cgroup.procs").read_text().split()}
    return found


def _kill_members_and_remove(directories: Iterable[Path]) -> None:
    """SIGKILL every process inside these cgroups (put there by our sandbox), then remove them.

    First no process inside may start another (pids.max 0), so neither a fork loop nor a late joiner (a sandbox's
    ``sh`` prefix that moved itself in after a sweep) can outrun the kills; repeated until every cgroup is gone.
    A frozen process (cgroup v1 freezer) dies of SIGKILL only once thawed: the freezer cgroups are thawed after
    each sweep, when nothing inside can do anything but die."""
    directories = list(directories)
    for directory in directories:
        with contextlib.suppress(OSError):
            (directory / "pids.max").write_text("0")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if members := _members(directories):
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            for directory in directories:
                if (state := directory / "freezer.state").exists():
                    with contextlib.suppress(OSError):
                        state.write_text("THAWED")
        else:
            for directory in directories:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if not any(directory.exists() for directory in directories):
                return
        time.sleep(0.02)
    LOG.warning("cgroups not removed after 5 s: %s", ", ".join(str(d) for d in directories if d.exists()))


def _children(directory: Path) -> list[Path]:
    """The environment cgroups in a LocalStack's cgroup; none once it is gone (it may be removed concurrently)."""
    try:
        return [child for child in directory.iterdir() if child.is_dir()]
    except OSError:
        return []


LEFTOVER_GRACE_S = 0.5
"""How long the kernel gets to end a dead LocalStack's environments before its reaper kills what is left."""


def environment_cgroup_name(executor_id: str) -> str:
    """Name of an environment's cgroups (``LOCALSTACK_RUNTIME_ID`` inside the function is the executor id)."""
    return f"env-{executor_id}"


def remove_stale_cgroups() -> None:
    """Clear the cgroups a LocalStack that was killed left behind; never one of a running LocalStack.

    Normally its reaper (``end_leftovers``) has done this already; this covers a reaper that was killed too.
    """
    stale: dict[str, list[Path]] = {}
    for controller in CONTROLLERS:
        parent = own_cgroup(controller)
        if parent is None or not parent.is_dir():
            continue
        for directory in parent.glob(owner_cgroup_name("*")):
            owner = directory.name.rpartition("-")[2]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                stale.setdefault(owner, []).append(directory)
    for owner, directories in stale.items():
        _clear_owner_cgroups(owner, directories)


def end_leftovers(owner: int, grace_s: float = LEFTOVER_GRACE_S) -> None:
    """SIGKILL what is left in the environment cgroups of the LocalStack ``owner``, which has ended; remove them.

    The kernel gets ``grace_s`` to end what ends with LocalStack (``--die-with-parent``, pid namespaces); what is
    still inside after that would stay: e.g. the pid-namespace init of a sandbox being started when LocalStack
    was SIGKILLed, which bwrap's ``--die-with-parent`` does not reach (see reaper.py), or a frozen environment.
    """
    parents = [parent / owner_cgroup_name(owner) for c in CONTROLLERS if (parent := own_cgroup(c)) is not None]
    deadline = time.monotonic() + grace_s
    while _members(child for parent in parents for child in _children(parent)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    _clear_owner_cgroups(str(owner), parents)


def _clear_owner_cgroups(owner: str, directories: list[Path]) -> None:
    """Clear one dead LocalStack's cgroups (one per controller) together: a frozen process dies only once its
    freezer cgroup is thawed. One that is gone already (a reaper and a new start racing) is fine."""
    children = [child for directory in directories for child in _children(directory)]
    if leftovers := _members(children):
        LOG.warning("ending %d process(es) left by LocalStack %s: %s", len(leftovers), owner,
                    ", ".join(str(directory) for directory in directories))  # fmt: skip
    _kill_members_and_remove(children)
    for directory in directories:
        with contextlib.suppress(OSError):
            directory.rmdir()


def start_reaper() -> subprocess.Popen[bytes] | None:
    """Start this LocalStack's reaper (reaper.py): it ends what LocalStack's sandboxes leave when LocalStack ends.

    It is handed a pidfd of this process, opened here: it cannot refer to any other process, however late the
    reaper gets to wait on it. None (with a warning) when the kernel has no pidfds (Linux < 5.3): then the next
    LocalStack to start clears what this one leaves (``remove_stale_cgroups``)."""
    try:
        pidfd = os.pidfd_open(os.getpid())
    except OSError as error:
        LOG.warning("no reaper for this LocalStack's sandboxes (pidfd_open: %s)", error)
        return None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", REAPER_MODULE, str(os.getpid()), str(pidfd)],
            stdin=subprocess.DEVNULL,
            close_fds=True,  # it holds nothing of a function's: no channel, no pipe end
            pass_fds=(pidfd,),
            start_new_session=True,  # not in LocalStack's process group: a signal to that group is not its end
        )
    finally:
        os.close(pidfd)


REAPER_MODULE = "embedded_localstack.service.reaper"
