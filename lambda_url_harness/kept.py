"""Deployments kept after a test run (``--keep-deployments``), and destroying them later, checked.

A kept deployment's workspace moves out of pytest's temp dir (pytest deletes old ones, and ``--basetemp`` at the
next run; the state would go with them) to ``<state dir>/kept/ws-<suffix>/``, with a record of how it was deployed
(endpoint, region, variables) next to its state and its variables in ``kept.auto.tfvars.json`` (so a ``tflocal plan``
typed there works too). ``python -m lambda_url_harness destroy-kept [PATH ...]`` destroys it like the fixture's
finalizer would, with the same check that nothing is left (:meth:`~lambda_url_harness.deployment.Deployment.destroy`),
and removes the workspace.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embedded_localstack.paths import StatePaths
from lambda_url_harness.aws import DEFAULT_REGION
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.errors import WorkspaceError
from lambda_url_harness.session import HarnessSession
from lambda_url_harness.workspace import WORKSPACE_PREFIX

log = logging.getLogger(__name__)

KEPT_RECORD = "harness-kept.json"
KEPT_VARIABLES = "kept.auto.tfvars.json"


@dataclass(frozen=True)
class KeptRecord:
    endpoint: str
    label: str
    region: str = DEFAULT_REGION
    variables: dict[str, Any] = field(default_factory=dict)


def keep(deployment: Deployment, workspace_root: Path, state_dir: Path) -> Path:
    """Move the deployment's workspace under ``state_dir`` and record it; returns its working dir there."""
    deployment.close()
    (deployment.working_dir / KEPT_VARIABLES).write_text(json.dumps(deployment.variables, indent=2) + "\n")
    record = KeptRecord(deployment.endpoint, deployment.label, deployment.region, deployment.variables)
    (deployment.working_dir / KEPT_RECORD).write_text(json.dumps(asdict(record), indent=2) + "\n")
    target = StatePaths(state_dir).kept / workspace_root.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(workspace_root, target)
    return target / deployment.working_dir.relative_to(workspace_root)


def how_to_destroy(working_dir: Path, state_dir: Path) -> str:
    """The command that destroys a kept deployment (checked, like the fixture would have)."""
    command = [sys.executable, "-m", "lambda_url_harness", "destroy-kept", str(working_dir)]
    return shlex.join(command) + f" --state-dir {shlex.quote(str(state_dir))}"


def kept_working_dirs(paths: list[Path], state_dir: Path) -> list[Path]:
    """The kept deployments' working dirs in ``paths`` (each a working dir or a directory holding some); all kept
    deployments under ``state_dir`` when ``paths`` is empty."""
    roots = paths or [StatePaths(state_dir).kept]
    found = []
    for root in roots:
        if (root / KEPT_RECORD).is_file():
            found.append(root)
        elif root.is_dir():
            found += sorted(record.parent for record in root.rglob(KEPT_RECORD))
        elif paths:
            raise WorkspaceError(f"{root} is not a kept deployment (no {KEPT_RECORD} in or below it)")
    return found


def destroy_kept(session: HarnessSession, working_dir: Path) -> str:
    """Destroy a kept deployment (raises when it fails or leaves something behind), then remove its workspace."""
    try:
        record = KeptRecord(**json.loads((working_dir / KEPT_RECORD).read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise WorkspaceError(f"{working_dir / KEPT_RECORD} is unreadable: {error}") from error
    deployment = session.deployment(
        working_dir, record.endpoint, variables=record.variables, label=record.label, region=record.region
    )
    deployment.destroy()
    ancestors = (working_dir, *working_dir.parents)
    root = next((parent for parent in ancestors if parent.name.startswith(WORKSPACE_PREFIX)), working_dir)
    shutil.rmtree(root, ignore_errors=True)
    return f"{record.label}: destroyed at {record.endpoint}, nothing left; removed {root}"
