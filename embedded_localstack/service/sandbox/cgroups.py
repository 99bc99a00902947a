"""An environment's cgroups (v1 memory + pids), and clearing what a dead LocalStack left in them (the reaper)."""

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

LOG = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# -- cgroups ---------------------------------------------------------------------------------------------------
CONTROLLERS = ("memory", "pids")
"""The cgroup v1 controllers of an environment's limits (memory, processes)."""


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


class Cgroup:
    """One environment's cgroups (v1 memory + pids); absent when they cannot be created (then limits are off)."""

    def __init__(self, name: str) -> None:
        self.dirs: dict[str, Path] = {}
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
        for controller, directory in list(self.dirs.items()):
            try:
                self.dirs[controller] = directory.rename(directory.with_name(name))
            except OSError as error:
                LOG.debug("cannot rename %s to %s: %s", directory, name, error)

    def limit_memory(self, megabytes: int) -> bool:
        limited = self._write("memory", "memory.limit_in_bytes", str(megabytes * 1024 * 1024))
        self._write("memory", "memory.swappiness", "0")
        return limited

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
        """SIGKILL whatever is still inside (a setsid or double-forked child), then remove the cgroups."""
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
    ``sh`` prefix that moved itself in after a sweep) can outrun the kills; repeated until every cgroup is gone."""
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
    for controller in CONTROLLERS:
        parent = own_cgroup(controller)
        if parent is None or not parent.is_dir():
            continue
        for directory in parent.glob(owner_cgroup_name("*")):
            owner = directory.name.rpartition("-")[2]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                _clear_owner_cgroup(directory)


def end_leftovers(owner: int, grace_s: float = LEFTOVER_GRACE_S) -> None:
    """SIGKILL what is left in the environment cgroups of the LocalStack ``owner``, which has ended; remove them.

    The kernel gets ``grace_s`` to end what ends with LocalStack (``--die-with-parent``, pid namespaces); what is
    still inside after that would stay: e.g. the pid-namespace init of a sandbox being started when LocalStack
    was SIGKILLed, which bwrap's ``--die-with-parent`` does not reach (see reaper.py).
    """
    parents = [parent / owner_cgroup_name(owner) for c in CONTROLLERS if (parent := own_cgroup(c)) is not None]
    deadline = time.monotonic() + grace_s
    while _members(child for parent in parents for child in _children(parent)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    for directory in parents:
        _clear_owner_cgroup(directory)


def _clear_owner_cgroup(directory: Path) -> None:
    """Clear one dead LocalStack's cgroups; one that is gone already (a reaper and a new start racing) is fine."""
    children = _children(directory)
    owner = directory.name.rpartition("-")[2]
    if leftovers := _members(children):
        LOG.warning("ending %d process(es) left by LocalStack %s: %s", len(leftovers), owner, directory)
    _kill_members_and_remove(children)
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
