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
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embedded_localstack.control import lifecycle
from lambda_url_harness import processes
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.localstack import LocalStackHandle, LocalStackUnavailableError
from lambda_url_harness.provider_server import run_temp_dir_prefixes
from lambda_url_harness.timing import PhaseTimer
from lambda_url_harness.workspace import clear_stale_override

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
RECOVERY_LOCK = ".recovery.lock"
RECOVERY_LOCK_WAIT_S = 120.0
WORKSPACE_PREFIX = "ws-"


# ------------------------------------------------------------------------- the record


@dataclass
class TrackedProcess:
    pid: int
    started: float
    """Start time (:func:`lambda_url_harness.processes.start_time`): with the PID it names one process."""
    command: str


@dataclass
class TrackedWorkspace:
    path: str
    endpoint: str
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    owner_pid: int
    owner_started: float
    label: str
    started_at: float
    localstacks: list[LocalStackHandle] = field(default_factory=list)
    workspaces: list[TrackedWorkspace] = field(default_factory=list)
    processes: list[TrackedProcess] = field(default_factory=list)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RunRecord:
        return cls(
            owner_pid=int(document["owner_pid"]),
            owner_started=float(document["owner_started"]),
            label=str(document.get("label", "")),
            started_at=float(document.get("started_at", 0.0)),
            localstacks=[LocalStackHandle.from_json(item) for item in document.get("localstacks", [])],
            workspaces=[TrackedWorkspace(**item) for item in document.get("workspaces", [])],
            processes=[TrackedProcess(**item) for item in document.get("processes", [])],
        )

    def owner_alive(self) -> bool:
        return processes.is_same_process(self.owner_pid, self.owner_started)

    def is_empty(self) -> bool:
        return not (self.localstacks or self.workspaces or self.processes)


def runs_dir(state_dir: Path) -> Path:
    return state_dir / RUNS_DIR


class RunLedger:
    """This process's record. The file exists only while something is tracked; thread-safe.

    Creating one inspects no process: the owner's identity is read on the first write, so a pytest session
    that starts nothing never looks at process tables.
    """

    def __init__(self, state_dir: Path, label: str) -> None:
        self.state_dir = state_dir
        self.label = label
        self._record: RunRecord | None = None
        self._lock = threading.Lock()

    @property
    def record(self) -> RunRecord:
        if self._record is None:
            pid = os.getpid()
            started = processes.start_time(pid)
            if started is None:  # pragma: no cover - the running process always has a start time
                raise RuntimeError(f"cannot read the start time of this process ({pid})")
            self._record = RunRecord(owner_pid=pid, owner_started=started, label=self.label, started_at=time.time())
        return self._record

    @property
    def path(self) -> Path:
        tag = processes.process_tag(self.record.owner_pid, self.record.owner_started)
        return runs_dir(self.state_dir) / f"{tag}.json"

    # Every mutation rewrites the file (atomically: a reader never sees half a record).
    def _save(self) -> None:
        if self.record.is_empty():
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self.record), indent=2) + "\n")
        temporary.replace(self.path)

    def track_localstack(self, localstack: LocalStackHandle) -> None:
        """Record a LocalStack this run started (a found one is not ours to stop)."""
        if not localstack.owned:
            return
        with self._lock:
            self.record.localstacks.append(localstack)
            self._save()

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

    # lambda_url_harness.processes.ProcessTracker (run_bounded's tflocal, provider servers)
    def process_started(self, pid: int, command: str) -> None:
        started = processes.start_time(pid)
        if started is None:
            return  # already gone
        with self._lock:
            self.record.processes.append(TrackedProcess(pid, started, command))
            self._save()

    def process_ended(self, pid: int) -> None:
        with self._lock:
            self.record.processes = [item for item in self.record.processes if item.pid != pid]
            self._save()

    def close(self) -> None:
        """The run ends: its record goes if nothing is tracked any more; what a failed cleanup left stays recorded,
        so the next run clears it once this process is gone."""
        with self._lock:
            record = self._record
            if record is None:
                return
            if record.localstacks or record.workspaces or record.processes:
                log.warning("run record %s keeps what this run could not clean up; the next run clears it", self.path)
                return
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
    # Last started first: Terraform before the provider it attached to (whose proxy died with the run).
    for process in reversed(record.processes):
        if processes.stop_process_group(process.pid, process.started):
            actions.append(f"stopped left-over `{process.command}` (pid {process.pid})")
    for prefix in run_temp_dir_prefixes(record.owner_pid, record.owner_started):
        for leftover in Path(tempfile.gettempdir()).glob(prefix + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
            actions.append(f"removed the provider temp dir {leftover}")
    started_here = {localstack.endpoint for localstack in record.localstacks}
    for workspace in record.workspaces:
        actions += _clear_workspace(workspace, destroy=workspace.endpoint not in started_here)
    for localstack in record.localstacks:
        actions += _stop_localstack(localstack)
    return actions


def _clear_workspace(workspace: TrackedWorkspace, *, destroy: bool) -> list[str]:
    """Destroy what the workspace's state holds (when its LocalStack outlives the run), then delete it."""
    actions: list[str] = []
    path = Path(workspace.path)
    if not path.is_dir():
        return actions
    # Tolerate the module's sub-roots (examples/…): the workspace dir is the ws-* ancestor.
    root = next((parent for parent in (path, *path.parents) if parent.name.startswith(WORKSPACE_PREFIX)), None)
    if root is None:
        return [f"left {path} alone: not a harness workspace (no {WORKSPACE_PREFIX}* directory)"]
    # No shared provider: this one-off destroy would leave an untracked provider process if recovery were killed.
    deployment = Deployment(
        path, workspace.endpoint, PhaseTimer(), variables=workspace.variables, label=path.name, reuse_provider=False
    )
    if destroy and deployment.tflocal.has_state():
        clear_stale_override(path)  # the killed tflocal's; tflocal refuses to run while it exists
        if lifecycle.health(workspace.endpoint) is None:
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


def _stop_localstack(localstack: LocalStackHandle) -> list[str]:
    actions: list[str] = []
    what = f"{localstack.source} LocalStack at {localstack.endpoint}"
    try:
        # stop() signals only the recorded process (PID and start time) or container.
        if localstack.stop():
            actions.append(f"stopped left-over {what}")
    except (lifecycle.EmbeddedLocalStackError, LocalStackUnavailableError) as exc:
        actions.append(f"could not stop the {what}: {exc}")
        return actions
    if localstack.scratch and localstack.state_dir:
        localstack.discard_scratch()
        actions.append(f"removed its state dir {localstack.state_dir}")
    return actions
