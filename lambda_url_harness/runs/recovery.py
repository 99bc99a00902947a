"""Clearing what killed runs left behind, from their records (:mod:`.ledger`), and nothing else.

For each record whose owner process is gone: stop the recorded process groups (tflocal first, so Terraform writes
what it applied, then the aws provider it attached to), remove its provider temp dirs, destroy what a recorded
workspace still holds in a LocalStack that outlives the run, stop the LocalStack the run started, delete its
scratch dirs and workspaces, and delete the record. A PID counts only while its start time still matches (PIDs get
reused). Every pytest session, ``make deploy`` and ``make destroy`` do this first
(:meth:`lambda_url_harness.session.HarnessSession.recover`).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from embedded_localstack.control import processes
from embedded_localstack.control.health import is_healthy
from embedded_localstack.paths import StatePaths
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.errors import USER_FACING_ERRORS
from lambda_url_harness.localstack_handle import RUN_ENDED, LocalStackHandle
from lambda_url_harness.provider.reuse import clear_killed_run
from lambda_url_harness.runs.ledger import TrackedWorkspace, stale_records
from lambda_url_harness.workspace import WORKSPACE_PREFIX, clear_stale_override

log = logging.getLogger(__name__)

DeploymentFactory = Callable[[Path, str, Mapping[str, Any]], Deployment]
"""Builds the deployment of a recorded workspace (its directory, endpoint, variables) to destroy it."""


def clear_killed_runs(state_dir: Path, deployment_for: DeploymentFactory) -> list[str]:
    """Clear what killed runs recorded under ``state_dir`` (see the module docstring); returns what was done."""
    actions: list[str] = []
    with stale_records(state_dir) as stale:
        for path, record in stale:
            log.warning(
                "run %s (pid %d) ended without cleaning up; clearing what it recorded", record.label, record.owner_pid
            )
            # Last started first: Terraform before the provider it attached to (whose proxy died with the run).
            for process in reversed(record.processes):
                if processes.stop_process_group(process.pid, process.started):
                    actions.append(f"stopped left-over `{process.command}` (pid {process.pid})")
            actions += clear_killed_run(record.owner_pid, record.owner_started)
            started_here = {localstack.endpoint for localstack in record.localstacks}
            for workspace in record.workspaces:
                actions += _clear_workspace(workspace, deployment_for, destroy=workspace.endpoint not in started_here)
            for localstack in record.localstacks:
                try:  # release() signals only the recorded process (PID and start time) or container
                    actions += localstack.release()
                except USER_FACING_ERRORS as exc:
                    actions.append(f"could not stop the {localstack.source} LocalStack at {localstack.endpoint}: {exc}")
            path.unlink(missing_ok=True)
            actions.append(f"removed run record {path.name}")
    for action in actions:
        log.warning("recovery: %s", action)
    return actions


def _clear_workspace(workspace: TrackedWorkspace, deployment_for: DeploymentFactory, *, destroy: bool) -> list[str]:
    """Destroy what the workspace's state holds (when its LocalStack outlives the run), then delete it."""
    actions: list[str] = []
    path = Path(workspace.path)
    if not path.is_dir():
        return actions
    # Tolerate the module's sub-roots (examples/…): the workspace dir is the ws-* ancestor.
    root = next((parent for parent in (path, *path.parents) if parent.name.startswith(WORKSPACE_PREFIX)), None)
    if root is None:
        return [f"left {path} alone: not a harness workspace (no {WORKSPACE_PREFIX}* directory)"]
    deployment = deployment_for(path, workspace.endpoint, workspace.variables)
    if destroy and deployment.tflocal.has_state():
        clear_stale_override(path)  # the killed tflocal's; tflocal refuses to run while it exists
        if not is_healthy(workspace.endpoint):
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


def remove_ended_runs_scratch(paths: StatePaths) -> list[str]:
    """Remove the scratch LocalStack state dirs that ended runs kept (marked
    :data:`~lambda_url_harness.localstack_handle.RUN_ENDED`) once their LocalStack no longer runs; a dir in use by a
    running session carries no mark."""
    actions = []
    for directory in paths.scratch_localstacks():
        marker = directory / RUN_ENDED
        if not marker.is_file():
            continue
        try:
            localstack = LocalStackHandle.from_json(json.loads(marker.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("leaving %s alone: its %s is unreadable (%s)", directory, RUN_ENDED, exc)
            continue
        if not localstack.is_alive():
            shutil.rmtree(directory, ignore_errors=True)
            actions.append(f"removed {directory} (kept by an ended run; its LocalStack is gone)")
    return actions
