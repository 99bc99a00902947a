"""Bookkeeping of what a run created, so the next run can clear it when this one was SIGKILLed.

A run (a pytest process, an xdist worker, ``make deploy``) writes ``<state dir>/runs/<pid>-<start>.json``
naming everything it created that outlives a killed process: LocalStacks it started (they run in their
own session), temp workspaces holding Terraform state, and tflocal process groups (also in their own
session, so a SIGKILL of the run leaves them applying). A clean finish deletes the record.

The next run calls :func:`recover_stale_runs`: for each record whose owner process is gone it stops the
recorded tflocal processes, destroys what a recorded workspace still holds in a LocalStack that outlives
the run, stops the LocalStack the run started, removes its workspaces and scratch dirs, and deletes the
record. Only what a record names is touched, and a PID counts only while its start time still matches
(PIDs get reused).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedded_localstack import launcher

if TYPE_CHECKING:
    from lambda_url_harness.localstack import LocalStackLease

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
RECOVERY_LOCK = ".recovery.lock"
RECOVERY_LOCK_WAIT_S = 120.0
PROCESS_INTERRUPT_GRACE_S = 20.0
"""A stale tflocal gets SIGINT first (Terraform then saves what it applied), SIGKILL after this."""
PROCESS_KILL_WAIT_S = 5.0
WORKSPACE_PREFIX = "ws-"


# ------------------------------------------------------------------------- processes (/proc)


def process_start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when it does not run (or is a zombie).

    Together with the PID it names one process: a reused PID has a different start time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[19])


def is_same_process(pid: int, start_ticks: int) -> bool:
    return process_start_ticks(pid) == start_ticks


def _wait_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while launcher.process_group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_process_group(pid: int, start_ticks: int, grace_s: float = PROCESS_INTERRUPT_GRACE_S) -> bool:
    """Stop the process group led by ``pid`` if ``pid`` is still the recorded process; True if it ran.

    tflocal runs as a group leader (``start_new_session``) and forwards one SIGINT to Terraform, which
    then stops and writes its state; the rest of the group (Terraform, the provider) gets SIGKILL only
    after ``grace_s``.
    """
    if not is_same_process(pid, start_ticks):
        return False
    log.warning("stopping process group %d left running by a killed run", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGCONT)  # a stopped (Ctrl-Z'd, frozen) group would never see the SIGINT
    if not _wait_gone(pid, grace_s):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _wait_gone(pid, PROCESS_KILL_WAIT_S)
    return True


# ------------------------------------------------------------------------- the record


@dataclass
class TrackedProcess:
    pid: int
    start_ticks: int
    command: str


@dataclass
class TrackedLocalStack:
    source: str
    endpoint: str
    pid: int | None
    state_dir: str | None
    """The embedded LocalStack's state dir (PID file, log); None for docker."""
    container_id: str = ""
    scratch: bool = False
    """True when ``state_dir`` is a throw-away dir of this run, removed with it."""


@dataclass
class TrackedWorkspace:
    path: str
    endpoint: str
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    owner_pid: int
    owner_start_ticks: int
    label: str
    started_at: float
    localstacks: list[TrackedLocalStack] = field(default_factory=list)
    workspaces: list[TrackedWorkspace] = field(default_factory=list)
    processes: list[TrackedProcess] = field(default_factory=list)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RunRecord:
        return cls(
            owner_pid=int(document["owner_pid"]),
            owner_start_ticks=int(document["owner_start_ticks"]),
            label=str(document.get("label", "")),
            started_at=float(document.get("started_at", 0.0)),
            localstacks=[TrackedLocalStack(**item) for item in document.get("localstacks", [])],
            workspaces=[TrackedWorkspace(**item) for item in document.get("workspaces", [])],
            processes=[TrackedProcess(**item) for item in document.get("processes", [])],
        )

    def owner_alive(self) -> bool:
        return is_same_process(self.owner_pid, self.owner_start_ticks)

    def is_empty(self) -> bool:
        return not (self.localstacks or self.workspaces or self.processes)


def runs_dir(state_dir: Path) -> Path:
    return state_dir / RUNS_DIR


class RunLedger:
    """This process's record. The file exists only while something is tracked; thread-safe."""

    def __init__(self, state_dir: Path, label: str) -> None:
        pid = os.getpid()
        start_ticks = process_start_ticks(pid)
        if start_ticks is None:  # pragma: no cover - /proc always lists the running process
            raise RuntimeError("cannot read this process's start time from /proc")
        self.path = runs_dir(state_dir) / f"{pid}-{start_ticks}.json"
        self.record = RunRecord(owner_pid=pid, owner_start_ticks=start_ticks, label=label, started_at=time.time())
        self._lock = threading.Lock()

    # Every mutation rewrites the file (atomically: a reader never sees half a record).
    def _save(self) -> None:
        if self.record.is_empty():
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self.record), indent=2) + "\n")
        temporary.replace(self.path)

    def track_localstack(self, localstack: TrackedLocalStack) -> None:
        with self._lock:
            self.record.localstacks.append(localstack)
            self._save()

    def track_lease(self, lease: LocalStackLease) -> None:
        """Record a LocalStack this run started (a found one is not ours to stop)."""
        if not lease.owned:
            return
        self.track_localstack(
            TrackedLocalStack(
                source=lease.source,
                endpoint=lease.endpoint,
                pid=int(lease.detail) if lease.source == "embedded" and lease.detail.isdigit() else None,
                state_dir=str(lease.scratch_dir) if lease.scratch_dir else None,
                container_id=lease.detail if lease.source == "docker" else "",
                scratch=lease.scratch_dir is not None,
            )
        )

    def forget_localstack(self, endpoint: str) -> None:
        with self._lock:
            self.record.localstacks = [item for item in self.record.localstacks if item.endpoint != endpoint]
            self._save()

    def track_workspace(self, path: Path, endpoint: str, variables: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self.record.workspaces.append(TrackedWorkspace(str(path), endpoint, dict(variables or {})))
            self._save()

    def forget_workspace(self, path: Path) -> None:
        with self._lock:
            self.record.workspaces = [item for item in self.record.workspaces if item.path != str(path)]
            self._save()

    # ProcessTracker protocol of lambda_url_harness.terraform.run_bounded
    def process_started(self, pid: int, command: str) -> None:
        start_ticks = process_start_ticks(pid)
        if start_ticks is None:
            return  # already gone
        with self._lock:
            self.record.processes.append(TrackedProcess(pid, start_ticks, command))
            self._save()

    def process_ended(self, pid: int) -> None:
        with self._lock:
            self.record.processes = [item for item in self.record.processes if item.pid != pid]
            self._save()

    def close(self) -> None:
        """A clean end: nothing is left to recover (whatever is still tracked was handled by the caller)."""
        with self._lock:
            self.path.unlink(missing_ok=True)


# ------------------------------------------------------------------------- recovery


def read_records(state_dir: Path) -> list[tuple[Path, RunRecord]]:
    records = []
    directory = runs_dir(state_dir)
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.json")):
        try:
            records.append((path, RunRecord.from_json(json.loads(path.read_text()))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable run record %s (%s); delete it by hand", path, exc)
    return records


@contextlib.contextmanager
def _recovery_lock(state_dir: Path) -> Iterator[None]:
    """Parallel runs (xdist workers, two ``make test``) must not recover the same record twice."""
    directory = runs_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / RECOVERY_LOCK).open("w") as lock:
        deadline = time.monotonic() + RECOVERY_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another run has held {lock.name} for {RECOVERY_LOCK_WAIT_S:.0f} s") from None
                time.sleep(0.2)
        yield


def recover_stale_runs(state_dir: Path) -> list[str]:
    """Clear what killed runs left behind (see the module docstring); returns what was done, for the log."""
    if not runs_dir(state_dir).is_dir():
        return []
    actions: list[str] = []
    with _recovery_lock(state_dir):
        for path, record in read_records(state_dir):
            if record.owner_alive():
                continue
            log.warning(
                "run %s (pid %d) ended without cleaning up; clearing what it recorded", record.label, record.owner_pid
            )
            actions += _recover(record)
            path.unlink(missing_ok=True)
            actions.append(f"removed run record {path.name}")
    for action in actions:
        log.warning("recovery: %s", action)
    return actions


def _recover(record: RunRecord) -> list[str]:
    actions: list[str] = []
    for process in record.processes:
        if stop_process_group(process.pid, process.start_ticks):
            actions.append(f"stopped left-over `{process.command}` (pid {process.pid})")
    started_here = {localstack.endpoint for localstack in record.localstacks}
    for workspace in record.workspaces:
        actions += _clear_workspace(workspace, destroy=workspace.endpoint not in started_here)
    for localstack in record.localstacks:
        actions += _stop_localstack(localstack)
    return actions


def _clear_workspace(workspace: TrackedWorkspace, *, destroy: bool) -> list[str]:
    """Destroy what the workspace's state holds (when its LocalStack outlives the run), then delete it."""
    from lambda_url_harness.deployment import Deployment  # deployment -> terraform -> this module's users
    from lambda_url_harness.timing import PhaseTimer
    from lambda_url_harness.workspace import clear_stale_override

    actions: list[str] = []
    path = Path(workspace.path)
    if not path.is_dir():
        return actions
    # Tolerate the module's sub-roots (examples/…): the workspace dir is the ws-* ancestor.
    root = next((parent for parent in (path, *path.parents) if parent.name.startswith(WORKSPACE_PREFIX)), None)
    if root is None:
        return [f"left {path} alone: not a harness workspace (no {WORKSPACE_PREFIX}* directory)"]
    deployment = Deployment(path, workspace.endpoint, PhaseTimer(), variables=workspace.variables, label=path.name)
    if destroy and deployment.tflocal.has_state():
        clear_stale_override(path)  # the killed tflocal's; tflocal refuses to run while it exists
        if launcher.health(workspace.endpoint) is None:
            actions.append(f"{path}: its LocalStack {workspace.endpoint} is gone, and the resources with it")
        else:
            try:
                deployment.destroy()
                actions.append(f"destroyed the half-applied deployment in {path} at {workspace.endpoint}")
            except Exception as exc:  # keep clearing the rest; the message says what is left
                actions.append(f"could not destroy {path} at {workspace.endpoint}: {exc}")
                return actions
    shutil.rmtree(root, ignore_errors=True)
    actions.append(f"removed workspace {root}")
    return actions


def _stop_localstack(localstack: TrackedLocalStack) -> list[str]:
    actions: list[str] = []
    if localstack.source == "embedded" and localstack.state_dir:
        port = int(localstack.endpoint.rsplit(":", 1)[1].rstrip("/"))
        try:
            # stop() checks the PID file's process is our LocalStack, and clears a stale PID file.
            if launcher.stop(launcher.EmbeddedSettings(port=port, state_dir=Path(localstack.state_dir))):
                actions.append(f"stopped left-over embedded LocalStack at {localstack.endpoint}")
        except launcher.EmbeddedLocalStackError as exc:
            actions.append(f"could not stop the LocalStack at {localstack.endpoint}: {exc}")
            return actions
        if localstack.scratch:
            shutil.rmtree(localstack.state_dir, ignore_errors=True)
            actions.append(f"removed its state dir {localstack.state_dir}")
    elif localstack.source == "docker" and localstack.container_id:
        import docker
        from docker.errors import DockerException, NotFound

        try:
            docker.from_env().containers.get(localstack.container_id).remove(force=True)
            actions.append(f"removed left-over LocalStack container {localstack.container_id[:12]}")
        except NotFound:
            pass
        except DockerException as exc:
            actions.append(f"could not remove container {localstack.container_id[:12]}: {exc}")
    return actions
