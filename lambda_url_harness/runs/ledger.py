"""The run ledger: what a run created that outlives it if it is SIGKILLed, written down as it happens.

A run (a pytest process, an xdist worker, ``make deploy``) writes ``<state dir>/runs/<pid>-<start>.json``
naming everything it created that outlives a killed process: LocalStacks it started (they run in their
own session), temp workspaces holding Terraform state, and process groups (tflocal, the shared aws provider: also
in their own session, so a SIGKILL of the run leaves them running). A clean finish deletes the record.

This module only keeps and reads records; :mod:`.recovery` acts on those of runs that are gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embedded_localstack.control import processes
from embedded_localstack.paths import StatePaths
from lambda_url_harness.localstack_handle import LocalStackHandle

log = logging.getLogger(__name__)

CLAIM_LOCK = ".recovery.lock"
CLAIM_WAIT_S = 120.0


@dataclass
class TrackedProcess:
    pid: int
    started: float
    """Start time (:func:`embedded_localstack.control.processes.start_time`): with the PID it names one process."""
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
    return StatePaths(state_dir).runs


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
            pid, started = processes.this_process()
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

    # embedded_localstack.control.processes.ProcessTracker (run_bounded's tflocal, provider servers)
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


def read_records(state_dir: Path) -> list[tuple[Path, RunRecord]]:
    """Every readable run record under ``state_dir`` (an unreadable one is named in the log and left alone)."""
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
def stale_records(state_dir: Path) -> Iterator[list[tuple[Path, RunRecord]]]:
    """The records of runs that are gone (owner PID and start time no longer match), held for the caller alone
    while it clears them: parallel runs (xdist workers, two ``make test``) never clear the same record twice."""
    directory = runs_dir(state_dir)
    if not directory.is_dir():
        yield []
        return
    with (directory / CLAIM_LOCK).open("w") as lock:
        deadline = time.monotonic() + CLAIM_WAIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another run has held {lock.name} for {CLAIM_WAIT_S:.0f} s") from None
                time.sleep(0.2)
        yield [(path, record) for path, record in read_records(state_dir) if not record.owner_alive()]
