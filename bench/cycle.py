"""The deploy cycle three ways: the harness's, bare ``terraform``, and a user's plain ``tflocal`` on stock LocalStack.

* **harness**: a ``Deployment`` of a harness session (tflocal via python-terraform, with the harness's settings:
  ``GOGC``, destroy without refresh, one shared aws provider) against the tuned embedded LocalStack.
* **bare**: plain ``terraform apply/destroy`` against the same tuned LocalStack, with the very provider block
  tflocal would generate (``DRY_RUN=1 tflocal``, written before timing): the difference to the harness is what
  the harness adds or saves on the Terraform side.
* **stock**: ``tflocal apply -auto-approve`` / ``tflocal destroy -auto-approve`` as a user types them (no harness
  settings) against a second embedded LocalStack started with ``--stock`` (our executor, none of the
  performance settings): the baseline of ``cycle_vs_stock_ratio``.

All apply the module's root configuration from fresh private workspaces. Rounds rotate the order of the sides so
that drift in machine load falls on all of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambda_url_harness.errors import TerraformError
from lambda_url_harness.session import HarnessSession
from lambda_url_harness.square.module import REPO_ROOT, SQUARE_MODULE_ITEMS, wait_for_first_200
from lambda_url_harness.terraform.runner import run_bounded
from lambda_url_harness.terraform.state import TerraformState
from lambda_url_harness.terraform.tflocal import CommandTimeouts, default_tflocal_binary, tflocal_env
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
    stock: list[BareCycle] = field(default_factory=list)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def harness_cycle(endpoint: str, parent: Path, harness: HarnessSession) -> HarnessCycle:
    workspace = create_workspace(REPO_ROOT, parent, include=SQUARE_MODULE_ITEMS)
    deployment = harness.deployment(
        workspace.root,
        endpoint,
        variables={"function_name": f"bench-{workspace.suffix}"},
        label=f"harness:{workspace.suffix}",
        suffix=workspace.suffix,
    )
    try:
        init_s = _timed(deployment.init)
        apply_s = _timed(deployment.apply)
        first_200_s = _timed(lambda: wait_for_first_200(deployment))
        destroy_s = _timed(deployment.destroy)
    finally:
        deployment.destroy()  # a no-op after a successful destroy; cleans up after a failure
    return HarnessCycle(apply_s=apply_s, destroy_s=destroy_s, init_s=init_s, first_200_s=first_200_s)


def bare_cycle(endpoint: str, parent: Path, state_dir: Path) -> BareCycle:
    workspace = create_workspace(REPO_ROOT, parent, include=SQUARE_MODULE_ITEMS)
    variables = {"function_name": f"bench-bare-{workspace.suffix}"}
    return plain_cycle(BareTerraform(workspace, endpoint, state_dir, variables))


def stock_cycle(endpoint: str, parent: Path, state_dir: Path) -> BareCycle:
    workspace = create_workspace(REPO_ROOT, parent, include=SQUARE_MODULE_ITEMS)
    variables = {"function_name": f"bench-stock-{workspace.suffix}"}
    return plain_cycle(StockTflocal(workspace, endpoint, state_dir, variables))


def plain_cycle(runner: BareTerraform) -> BareCycle:
    """Untimed ``prepare``, then timed apply and destroy; whatever a failure leaves is destroyed."""
    runner.prepare()
    try:
        apply_s = _timed(runner.apply)
        destroy_s = _timed(runner.destroy)
    finally:
        if runner.has_resources():
            runner.destroy()
    return BareCycle(apply_s, destroy_s)


SIDES = ("harness", "stock", "bare")


def run_rounds(
    endpoint: str, stock_endpoint: str | None, parent: Path, rounds: int, harness: HarnessSession
) -> CycleResults:
    """``rounds`` cycles of each side; round ``i`` starts with side ``i mod 3`` (stock skipped without endpoint)."""
    results = CycleResults()
    for index in range(rounds):
        order = SIDES[index % len(SIDES) :] + SIDES[: index % len(SIDES)]
        for side in order:
            if side == "stock" and stock_endpoint is None:
                continue
            log.info("round %d/%d: %s cycle", index + 1, rounds, side)
            if side == "harness":
                results.harness.append(harness_cycle(endpoint, parent, harness))
            elif side == "bare":
                results.bare.append(bare_cycle(endpoint, parent, harness.state_dir))
            else:
                assert stock_endpoint is not None
                results.stock.append(stock_cycle(stock_endpoint, parent, harness.state_dir))
    return results


class BareTerraform:
    """Plain ``terraform`` in a workspace whose provider block is the one tflocal generates (no harness settings)."""

    def __init__(self, workspace: Workspace, endpoint: str, state_dir: Path, variables: Mapping[str, str]) -> None:
        self.workspace = workspace
        self.env = tflocal_env(endpoint, state_dir, tuned=False)
        self.variables = [argument for name, value in variables.items() for argument in ("-var", f"{name}={value}")]

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
        return TerraformState.read(self.workspace.root).has_resources


class StockTflocal(BareTerraform):
    """``tflocal`` as a user types it: ``tflocal apply -auto-approve``, no harness settings (no ``GOGC``)."""

    def __init__(self, workspace: Workspace, endpoint: str, state_dir: Path, variables: Mapping[str, str]) -> None:
        super().__init__(workspace, endpoint, state_dir, variables)
        self.tflocal = default_tflocal_binary()

    def prepare(self) -> None:
        """Untimed, like the other sides' init."""
        self._run([self.tflocal, "init", *self.variables], TIMEOUTS.init)

    def apply(self) -> None:
        self._run([self.tflocal, "apply", "-auto-approve", *self.variables], TIMEOUTS.apply)

    def destroy(self) -> None:
        self._run([self.tflocal, "destroy", "-auto-approve", *self.variables], TIMEOUTS.destroy)
