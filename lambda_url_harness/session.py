"""The harness's composition root: one :class:`HarnessSession` per run wires the parts together.

A run is ``make deploy`` / ``make destroy`` / ``recover`` (:mod:`lambda_url_harness.cli`) or a pytest session (each
xdist worker its own, :mod:`lambda_url_harness.pytest_plugin`). Its session holds the state dir, the run ledger
(what outlives a SIGKILL), the phase timer and the provider-reuse choice, recovers what killed runs left, acquires
LocalStack, and is the one factory of :class:`~lambda_url_harness.deployment.Deployment` objects wired to all of
that. Nothing else constructs the ledger, the runner or the provider wiring.
"""

from __future__ import annotations

import fcntl
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Unpack

from embedded_localstack.paths import StatePaths
from lambda_url_harness.aws import DEFAULT_REGION
from lambda_url_harness.deployment import Deployment, DeploymentOptions
from lambda_url_harness.discovery import DiscoveryOptions, acquire
from lambda_url_harness.errors import DeployError
from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.provider.reuse import ProviderReuse
from lambda_url_harness.runs.ledger import RunLedger
from lambda_url_harness.runs.recovery import clear_killed_runs, remove_ended_runs_scratch
from lambda_url_harness.terraform.runner import run_bounded
from lambda_url_harness.terraform.tflocal import Tflocal, tflocal_env
from lambda_url_harness.timing import PhaseTimer

Printer = Callable[[str], None]


class HarnessSession:
    """One run of the harness (see the module docstring); :meth:`close` when it ends.

    ``reuse_provider``: deployments' commands share one aws provider process each (``--no-provider-reuse`` turns it
    off); ``share_validations``: their providers share one validation cache (a pytest session's many deployments).
    ``echo`` receives Terraform's output lines as they come (``--terraform-output``).
    """

    def __init__(
        self,
        state_dir: Path,
        label: str,
        *,
        reuse_provider: bool = True,
        share_validations: bool = False,
        echo: Printer | None = None,
    ) -> None:
        self.paths = StatePaths(state_dir)
        self.timer = PhaseTimer()
        self.ledger = RunLedger(state_dir, label)  # inspects no process until something is tracked
        self.providers = ProviderReuse(enabled=reuse_provider, share_validations=share_validations)
        self._runner = functools.partial(run_bounded, tracker=self.ledger, echo=echo)

    @property
    def state_dir(self) -> Path:
        return self.paths.root

    def close(self) -> None:
        """The run ends: its shared validation cache goes, and its record if nothing is left in it."""
        self.providers.close()
        self.ledger.close()

    def __enter__(self) -> HarnessSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- what killed runs left

    def recover(self) -> list[str]:
        """Clear what killed runs recorded and the scratch dirs ended runs kept
        (:mod:`lambda_url_harness.runs.recovery`); returns what was done."""
        return clear_killed_runs(self.state_dir, self._recovery_deployment) + remove_ended_runs_scratch(self.paths)

    def _recovery_deployment(self, working_dir: Path, endpoint: str, variables: Mapping[str, Any]) -> Deployment:
        # No shared provider: this one-off destroy needs none, and a recovery that is itself killed leaves less.
        return self.deployment(working_dir, endpoint, variables=variables, label=working_dir.name, reuse_provider=False)

    # ---------------------------------------------------------------- LocalStack

    def acquire_localstack(self, options: DiscoveryOptions, *, track: bool = True) -> LocalStackHandle:
        """Find or start a LocalStack (``options.mode``); one this run starts is recorded in its ledger (``track``)
        until :meth:`release_localstack`."""
        with self.timer.phase("localstack", options.mode.value):
            handle = acquire(options)
        if track:
            self.ledger.track_localstack(handle)
        return handle

    def release_localstack(self, handle: LocalStackHandle, *, keep: bool = False, keep_state: bool = False) -> None:
        """Stop it if this run started it (unless ``keep``) and delete its scratch state (unless ``keep_state``);
        the ledger forgets it."""
        if not keep:
            handle.release(keep_state=keep_state)
        self.ledger.forget_localstack(handle.endpoint)

    # ---------------------------------------------------------------- deployments

    def deployment(
        self,
        working_dir: Path,
        endpoint: str,
        *,
        variables: Mapping[str, Any] | None = None,
        reuse_provider: bool = True,
        **options: Unpack[DeploymentOptions],
    ) -> Deployment:
        """A deployment of ``working_dir`` against ``endpoint``, its commands run by this session: recorded in the
        ledger while they run, sharing an aws provider when the session and ``reuse_provider`` allow."""
        tflocal = Tflocal(
            working_dir,
            tflocal_env(endpoint, self.state_dir, options.get("region", DEFAULT_REGION)),
            variables,
            runner=self._runner,
            reuse_provider=self.providers.enabled and reuse_provider,
            tracker=self.ledger,
            validation_cache=self.providers.validation_cache() if reuse_provider else None,
        )
        return Deployment(working_dir, endpoint, self.timer, variables=variables, tflocal=tflocal, **options)


@contextmanager
def exclusive(state_dir: Path) -> Iterator[None]:
    """One ``make deploy`` / ``make destroy`` at a time: they share the repo root's override file and state."""
    lock_path = StatePaths(state_dir).deploy_lock
    state_dir.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployError(f"another deploy or destroy is running (lock {lock_path})") from None
        yield


def recover_stale_runs(state_dir: Path) -> list[str]:
    """Clear what killed runs recorded under ``state_dir``, in a session of its own; returns what was done."""
    with HarnessSession(state_dir, label="recover") as session:
        return session.recover()
