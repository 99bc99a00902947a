"""The deploy cycle: the harness's (tflocal via python-terraform, ``Deployment``) against bare ``terraform``.

Both apply the module's root configuration from fresh private workspaces against the same LocalStack. The bare
side gets the very provider block tflocal would generate (``DRY_RUN=1 tflocal``, written once before timing),
so the difference is what the harness adds: tflocal's Python start and HCL parsing, python-terraform, the
``output -json`` the harness needs for the URL. Pairs run alternately (harness first, then bare first) so that
drift in machine load falls on both sides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.project import REPO_ROOT, SQUARE_MODULE_ITEMS, STATE_DIR
from lambda_url_harness.terraform import (
    CommandTimeouts,
    TerraformError,
    default_tflocal_binary,
    run_bounded,
    tflocal_env,
)
from lambda_url_harness.timing import PhaseTimer
from lambda_url_harness.workspace import Workspace, create_workspace

log = logging.getLogger(__name__)

TIMEOUTS = CommandTimeouts()


@dataclass
class BareCycle:
    apply_s: float
    destroy_s: float

    @property
    def cycle_s(self) -> float:
        """What both sides do: apply (with the outputs the harness reads) and destroy."""
        return self.apply_s + self.destroy_s


@dataclass
class HarnessCycle(BareCycle):
    """The harness also times init and the first 200 from the URL (not part of `cycle_s`)."""

    init_s: float
    first_200_s: float


@dataclass
class CycleResults:
    harness: list[HarnessCycle] = field(default_factory=list)
    bare: list[BareCycle] = field(default_factory=list)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def harness_cycle(endpoint: str, parent: Path, timer: PhaseTimer) -> HarnessCycle:
    workspace = create_workspace(REPO_ROOT, parent, include=SQUARE_MODULE_ITEMS)
    deployment = Deployment(
        workspace.root,
        endpoint,
        timer,
        variables={"function_name": f"bench-{workspace.suffix}"},
        label=f"harness:{workspace.suffix}",
        suffix=workspace.suffix,
    )
    try:
        init_s = _timed(deployment.init)
        apply_s = _timed(deployment.apply)
        first_200_s = _timed(deployment.wait_for_first_200)
        destroy_s = _timed(deployment.destroy)
    finally:
        deployment.destroy()  # a no-op after a successful destroy; cleans up after a failure
    return HarnessCycle(apply_s=apply_s, destroy_s=destroy_s, init_s=init_s, first_200_s=first_200_s)


def bare_cycle(endpoint: str, parent: Path) -> BareCycle:
    workspace = create_workspace(REPO_ROOT, parent, include=SQUARE_MODULE_ITEMS)
    bare = BareTerraform(workspace, endpoint)
    bare.prepare()
    try:
        apply_s = _timed(bare.apply)
        destroy_s = _timed(bare.destroy)
    finally:
        if bare.has_resources():
            bare.destroy()
    return BareCycle(apply_s, destroy_s)


def run_pairs(endpoint: str, parent: Path, pairs: int, timer: PhaseTimer) -> CycleResults:
    results = CycleResults()
    for index in range(pairs):
        order = ("harness", "bare") if index % 2 == 0 else ("bare", "harness")
        for side in order:
            log.info("pair %d/%d: %s cycle", index + 1, pairs, side)
            if side == "harness":
                results.harness.append(harness_cycle(endpoint, parent, timer))
            else:
                results.bare.append(bare_cycle(endpoint, parent))
    return results


class BareTerraform:
    """Plain ``terraform`` in a workspace whose provider block is the one tflocal generates."""

    def __init__(self, workspace: Workspace, endpoint: str) -> None:
        self.workspace = workspace
        self.env = tflocal_env(endpoint, STATE_DIR)
        self.variables = ["-var", f"function_name=bench-bare-{workspace.suffix}"]

    def _run(self, argv: list[str], timeout_s: float, extra_env: dict[str, str] | None = None) -> None:
        env = {**self.env, **(extra_env or {})}
        completed = run_bounded(argv, self.workspace.root, env, timeout_s)
        if completed.returncode != 0:
            raise TerraformError(argv, self.workspace.root, completed.returncode, completed.stdout, completed.stderr)

    def prepare(self) -> None:
        """Untimed: write tflocal's provider override (DRY_RUN only writes it) and ``terraform init``."""
        self._run([default_tflocal_binary(), "apply", *self.variables], TIMEOUTS.init, {"DRY_RUN": "1"})
        self._run(["terraform", "init", "-input=false", "-no-color"], TIMEOUTS.init)

    def apply(self) -> None:
        self._run(["terraform", "apply", "-auto-approve", "-input=false", "-no-color", *self.variables], TIMEOUTS.apply)

    def destroy(self) -> None:
        self._run(
            ["terraform", "destroy", "-auto-approve", "-input=false", "-no-color", *self.variables], TIMEOUTS.destroy
        )

    def has_resources(self) -> bool:
        state = self.workspace.root / "terraform.tfstate"
        return state.is_file() and '"resources": []' not in state.read_text()
