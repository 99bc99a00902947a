"""One LocalStack as the harness knows it (:class:`LocalStackHandle`), and stopping it only if it is ours."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
from docker.errors import DockerException, NotFound

from embedded_localstack.control import lifecycle, processes
from embedded_localstack.control.health import is_healthy
from lambda_url_harness.errors import LocalStackUnavailableError

log = logging.getLogger(__name__)

RUN_ENDED = "run-ended.json"
"""In a scratch state dir whose run has ended but kept it (for its log after a failure, or with its LocalStack still
running for ``--keep-deployments``): that LocalStack's record. A later run removes the dir once it no longer runs."""
DEFAULT_PORT = 4566
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"


@dataclass
class LocalStackHandle:
    """One LocalStack: where it came from, where it answers, which process or container it is, whether we own it.

    The one type for a LocalStack throughout the harness: the pytest fixture yields it, ``deploy`` records it
    for ``destroy`` and run records keep it for recovery (:meth:`to_json` / :meth:`from_json`). :meth:`stop`
    stops it only when we started it (``owned``) and, for a process, only after checking that the PID still
    runs the process that started at ``started`` (a LocalStack someone else started later on the same port,
    or a reused PID, is never signalled).
    """

    source: str
    """Which discovery step provided it: external, running, docker or embedded."""
    endpoint: str
    owned: bool
    """True when we started it (and so stop it)."""
    pid: int | None = None
    """The embedded LocalStack's process (group leader)."""
    started: float | None = None
    """That process's start time (seconds since boot, :func:`embedded_localstack.control.processes.start_time`)."""
    container_id: str = ""
    state_dir: str | None = None
    """The embedded LocalStack's state dir (PID file, log, data)."""
    scratch: bool = False
    """True when ``state_dir`` is a throw-away dir of this run, removed by :meth:`discard_scratch`."""
    found_via: str = ""
    """How an unowned one was found, e.g. the environment variable naming it."""

    @property
    def port(self) -> int:
        return urlsplit(self.endpoint).port or DEFAULT_PORT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LocalStackHandle:
        known = {item.name for item in fields(cls)}
        return cls(**{name: value for name, value in document.items() if name in known})

    def is_alive(self) -> bool:
        """For an embedded one: its process still runs; otherwise whether the endpoint answers."""
        if self.pid is not None:
            return processes.is_same_process(self.pid, self.started)
        return is_healthy(self.endpoint)

    def stop(self, docker_client: Callable[[], Any] | None = None) -> bool:
        """Stop it if we own it and it is still the same process/container; True when something was stopped.

        Idempotent: afterwards ``owned`` is False. ``docker_client`` replaces ``docker.from_env`` (tests).
        """
        if not self.owned:
            return False
        self.owned = False
        if self.source == "embedded":
            return self._stop_embedded()
        if self.source == "docker":
            return self._remove_container(docker_client or docker.from_env)
        return False

    def _stop_embedded(self) -> bool:
        if not processes.is_same_process(self.pid, self.started):
            log.info("the embedded LocalStack pid %s (%s) is gone; nothing to stop", self.pid, self.endpoint)
            return False
        if self.state_dir is None:
            raise LocalStackUnavailableError(f"no state dir recorded for the embedded LocalStack at {self.endpoint}")
        log.info("stopping the embedded LocalStack at %s (pid %s)", self.endpoint, self.pid)
        # lifecycle.stop re-checks that its PID file names our LocalStack process and stops the whole tree.
        return lifecycle.stop(lifecycle.EmbeddedSettings(port=self.port, state_dir=Path(self.state_dir)))

    def _remove_container(self, client: Callable[[], Any]) -> bool:
        try:
            client().containers.get(self.container_id).remove(force=True)
        except NotFound:
            log.info("container %s is already gone", self.container_id[:12])
            return False
        except DockerException as exc:
            raise LocalStackUnavailableError(
                f"could not remove LocalStack container {self.container_id}: {exc}"
            ) from exc
        log.info("removed LocalStack container %s", self.container_id[:12])
        return True

    def discard_scratch(self) -> bool:
        """Delete a throw-away state dir (call after ``stop()``; keep it when its log is needed); True if deleted."""
        if not (self.scratch and self.state_dir):
            return False
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return True

    def release(self, *, keep_state: bool = False) -> list[str]:
        """Done with it: :meth:`stop` it (if ours) and :meth:`discard_scratch` (unless ``keep_state``, for its log:
        then :meth:`mark_run_ended`, and the next run removes it); says what was done."""
        what = f"{self.source} LocalStack at {self.endpoint}"
        done = [f"stopped left-over {what}"] if self.stop() else []
        if not keep_state and self.discard_scratch():
            done.append(f"removed its state dir {self.state_dir}")
        elif keep_state:
            self.mark_run_ended()
        return done

    def mark_run_ended(self) -> None:
        """The run that started it ends and keeps its scratch state dir (and maybe the LocalStack running): leave
        :data:`RUN_ENDED` there, so a later run removes the dir once this LocalStack is gone."""
        if self.scratch and self.state_dir and Path(self.state_dir).is_dir():
            (Path(self.state_dir) / RUN_ENDED).write_text(json.dumps(self.to_json()) + "\n")
