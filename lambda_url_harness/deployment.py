"""One Terraform root applied with tflocal against one LocalStack: init, apply, outputs, plan, destroy, logs.

Generic: any module. What a module's outputs mean (which one is a Function URL) is the caller's to say
(:meth:`Deployment.output`); :attr:`Deployment.function_url` is only the common name's shortcut. Its functions are
the ``aws_lambda_function`` resources its state lists (:meth:`Deployment.function_names`, :meth:`Deployment.logs`).
Every destroy is checked against LocalStack itself (:mod:`lambda_url_harness.inventory.check`). A session
(:meth:`lambda_url_harness.session.HarnessSession.deployment`) builds deployments wired to its run ledger and
provider reuse; built alone, one runs with defaults.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import requests

from embedded_localstack.control.health import is_healthy
from embedded_localstack.paths import state_root
from lambda_url_harness.aws import DEFAULT_REGION
from lambda_url_harness.errors import LeftoverError, LocalStackGoneError, TerraformError
from lambda_url_harness.function_logs import LogLine, function_log, function_names
from lambda_url_harness.function_url import FunctionUrlAuth, function_url_session
from lambda_url_harness.inventory.check import find_leftovers
from lambda_url_harness.terraform.plan import Plan
from lambda_url_harness.terraform.state import STATE_FILE, TerraformState
from lambda_url_harness.terraform.tflocal import Tflocal, tflocal_env
from lambda_url_harness.timing import PhaseTimer
from lambda_url_harness.waiting import eventually

log = logging.getLogger(__name__)

FUNCTION_URL_OUTPUT = "function_url"
"""The output name :attr:`Deployment.function_url` reads (this repository's module and its examples use it)."""
FAST_FAIL_OVERRIDE = "harness_fast_fail_override.tf"
"""Written only for a destroy against an endpoint that no longer answers, removed right after.

Against a dead endpoint the aws provider retries each call up to ``max_retries`` (default 25) with
back-off: measured 84 s just to fail its account lookup, before any resource. One attempt fails in
~7 s with the same message.
"""
FAST_FAIL_PROVIDER = 'provider "aws" {\n  max_retries = 1\n}\n'
FAST_FAIL_DESTROY_TIMEOUT_S = 90.0
CHECK_DIR = Path(".terraform") / "harness-check"
"""The state as it was before the last destroy (``before-destroy.tfstate``), kept there when the check after it
found leftovers; a refreshed copy of it while the check runs."""
PLAN_FILE = Path(".terraform") / "harness.tfplan"
T = TypeVar("T")


class DeploymentOptions(TypedDict, total=False):
    """How a :class:`Deployment` behaves; every key is optional."""

    label: str
    """Names it in logs and the phase timings (default: the working directory's name)."""
    suffix: str
    """The workspace's unique suffix, which resource names derive from."""
    region: str
    """The AWS region of its resources (default ``us-east-1``)."""
    refresh_before_destroy: bool
    """False (default) for the harness's own workspaces: ``destroy -refresh=false``.

    Nothing but this deployment changes its resources between apply and destroy, so the refresh would only re-read
    what the state already says: one more aws provider start-up plus a read of every resource (~3-4 s of a ~15 s
    destroy here). A resource that is gone anyway is fine: the aws provider treats NotFound on delete as done for
    every resource type of the module. A root a user also manages by hand (``make destroy``) passes True."""
    hold_provider: bool
    """True (default): the shared aws provider lives until destroy or ``close()``. False: it ends after each command
    (a deployment many tests share stays up for long, and an idle provider holds ~0.5 GB); the next command starts
    another (~0.1 s; validations from the cache)."""


class Deployment:
    """A root configuration (a module, or an example calling it) in ``working_dir``.

    ``destroy()`` is safe to call at any point, any number of times: it runs ``tflocal destroy`` whenever init got
    far enough to leave state behind, which is why callers register it as a finalizer *before* ``apply()``.

    ``tflocal`` runs its commands (a session's, wired to its runner, ledger and provider reuse); without one, the
    deployment makes its own (its commands share one aws provider process, no run ledger). ``destroy()`` ends that
    provider, and a deployment that is kept calls ``close()``. ``options``: :class:`DeploymentOptions`.
    """

    def __init__(
        self,
        working_dir: Path,
        endpoint: str,
        timer: PhaseTimer,
        *,
        variables: Mapping[str, Any] | None = None,
        tflocal: Tflocal | None = None,
        **options: Unpack[DeploymentOptions],
    ) -> None:
        self.working_dir = working_dir
        self.endpoint = endpoint
        self.timer = timer
        self.variables = dict(variables or {})
        self.label = options.get("label") or working_dir.name
        self.suffix = options.get("suffix", "")
        self.region = options.get("region", DEFAULT_REGION)
        self.refresh_before_destroy = options.get("refresh_before_destroy", False)
        self.hold_provider = options.get("hold_provider", True)
        self.tflocal = tflocal or Tflocal(
            working_dir, tflocal_env(endpoint, state_root(), self.region), self.variables, reuse_provider=True
        )
        self.outputs: dict[str, Any] = {}
        self._initialized = False
        self._http: requests.Session | None = None
        self._signed_http: requests.Session | None = None

    def output(self, name: str) -> Any:
        """The value of root output ``name`` (after apply); a KeyError naming the outputs there are otherwise."""
        try:
            return self.outputs[name]
        except KeyError:
            raise KeyError(f"{self.working_dir} has no {name} output (outputs: {sorted(self.outputs)})") from None

    @property
    def function_url(self) -> str:
        """``output("function_url")``: the URL of a module that names its Function URL output so."""
        return str(self.output(FUNCTION_URL_OUTPUT))

    def session(self) -> requests.Session:
        """A new session reaching LocalStack Function URLs without DNS (close it, or use ``with``)."""
        return function_url_session(self.endpoint)

    @property
    def http(self) -> requests.Session:
        """This deployment's shared session reaching LocalStack Function URLs without DNS (closed by destroy)."""
        if self._http is None:
            self._http = self.session()
        return self._http

    @property
    def signed_http(self) -> requests.Session:
        """Like :attr:`http`, but every request is SigV4-signed (LocalStack's test credentials, service ``lambda``):
        for Function URLs with AuthType ``AWS_IAM`` (closed by destroy)."""
        if self._signed_http is None:
            self._signed_http = function_url_session(self.endpoint, FunctionUrlAuth())
        return self._signed_http

    def init(self) -> None:
        with self.timer.phase("init", self.label):
            self.tflocal.init()
        self._initialized = True

    def apply(self) -> None:
        if not self._initialized:
            self.init()
        with self.timer.phase("apply", self.label):
            try:
                self.tflocal.apply()
            except TerraformError as exc:
                if not is_healthy(self.endpoint):
                    raise LocalStackGoneError(
                        f"LocalStack at {self.endpoint} stopped answering during `apply` in {self.working_dir}; "
                        "the apply failed halfway. Check its log (embedded: the state dir's localstack.log). "
                        f"Terraform said:\n{exc}"
                    ) from exc
                raise
        self.outputs = self.tflocal.outputs()
        self._release_provider()

    def plan(self) -> Plan:
        """``terraform plan``, typed (``terraform show -json`` of the saved plan): before apply (everything to
        create) or after it (``assert not deployment.plan().has_changes`` is the empty-plan check)."""
        if not self._initialized:
            self.init()
        plan_file = self.working_dir / PLAN_FILE
        with self.timer.phase("plan", self.label):
            try:
                self.tflocal.plan(plan_file)
                plan = Plan.from_json(self.tflocal.show_plan(plan_file))
            finally:
                plan_file.unlink(missing_ok=True)
        self._release_provider()
        return plan

    def _release_provider(self) -> None:
        if not self.hold_provider:
            self.tflocal.close()

    def close(self) -> None:
        """Release what this object holds (HTTP sessions, aws provider process); the deployment itself stays."""
        for session in (self._http, self._signed_http):
            if session is not None:
                session.close()
        self._http = self._signed_http = None
        self.tflocal.close()

    def destroy(self) -> None:
        """Destroy what the state lists, then :meth:`close`; idempotent (a second call finds no state)."""
        try:
            self._destroy()
        finally:
            self.close()

    def _destroy(self) -> None:
        if not self.tflocal.has_state():
            log.info("%s: nothing to destroy", self.label)
            return
        if not self._initialized and not (self.working_dir / ".terraform").is_dir():
            self.init()
        if not is_healthy(self.endpoint):
            self._destroy_against_dead_endpoint()
            return
        check_dir = self.working_dir / CHECK_DIR
        check_dir.mkdir(parents=True, exist_ok=True)
        before = check_dir / "before-destroy.tfstate"
        shutil.copyfile(self.working_dir / STATE_FILE, before)
        with self.timer.phase("destroy", self.label):
            self.tflocal.destroy(refresh=self.refresh_before_destroy)
        self.outputs = {}
        self._check_nothing_left(before)

    def _check_nothing_left(self, before: Path) -> None:
        """Ask LocalStack about every resource the state listed before the destroy; raise naming what is left."""
        refreshed = before.with_name("refreshed.tfstate")

        def refresh(addresses: list[str]) -> TerraformState:
            shutil.copyfile(before, refreshed)
            return self.tflocal.refresh_state_file(refreshed, addresses)

        with self.timer.phase("destroy check", self.label):
            leftovers = find_leftovers(TerraformState.read_file(before), self.endpoint, self.region, refresh)
        for path in (refreshed, refreshed.with_name(refreshed.name + ".backup")):
            path.unlink(missing_ok=True)
        if leftovers:
            raise LeftoverError(self.working_dir, self.endpoint, leftovers, before)
        shutil.rmtree(before.parent, ignore_errors=True)

    # ------------------------------------------------------------------------------------ functions and logs

    def function_names(self) -> list[str]:
        """The names of the Lambda functions this deployment's state lists (``aws_lambda_function``), in order."""
        return function_names(self.tflocal.state())

    def logs(self, function: str | None = None, *, since: float | None = None, limit: int = 100) -> list[LogLine]:
        """The last ``limit`` lines of a function's CloudWatch log group (its ``print``s, tracebacks, init errors,
        ``Task timed out``), oldest first. ``function``: a name from :meth:`function_names`, or None when the
        deployment has exactly one function; ``since``: only lines from this time on (``time.time()`` seconds)."""
        names = self.function_names()
        if function is None:
            if len(names) != 1:
                raise ValueError(f"{self.label} has {len(names)} functions ({', '.join(names)}): name one")
            function = names[0]
        return function_log(self.endpoint, function, region=self.region, since=since, limit=limit)

    def eventually(self, check: Callable[[], T], *, timeout_s: float = 60.0, what: str = "") -> T:
        """:func:`lambda_url_harness.waiting.eventually`; on a timeout the message adds the recent log lines of this
        deployment's functions (why a function that should have acted did not)."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        started = time.time()

        def function_logs() -> str:
            sections = []
            for name in self.function_names():
                lines = self.logs(name, since=started, limit=30)
                sections.append(f"--- {name}: {len(lines)} log lines since the wait began ---")
                sections += [str(line) for line in lines]
            return "\n".join(sections)

        return eventually(check, timeout_s=timeout_s, what=what, diagnostics=function_logs)

    def _destroy_against_dead_endpoint(self) -> None:
        """Try the destroy once, with one attempt per call, and explain what the state still lists."""
        override = self.working_dir / FAST_FAIL_OVERRIDE
        override.write_text(FAST_FAIL_PROVIDER)
        started = time.monotonic()
        try:
            with self.timer.phase("destroy (no LocalStack)", self.label):
                self.tflocal.destroy(timeout_s=FAST_FAIL_DESTROY_TIMEOUT_S, refresh=self.refresh_before_destroy)
        except TerraformError as exc:
            failure = exc
        else:  # it came back in the meantime
            self.outputs = {}
            return
        finally:
            override.unlink(missing_ok=True)
        raise LocalStackGoneError(
            f"destroy in {self.working_dir} failed after {time.monotonic() - started:.0f} s: no LocalStack answers "
            f"at {self.endpoint}. Its state still lists {', '.join(self.tflocal.state().addresses())}. "
            "Those resources lived in that LocalStack: one without persistence (embedded, or Docker without "
            "PERSISTENCE=1) took them with it, so nothing is left deployed; delete the state. A persistent "
            f"LocalStack: start it again and destroy.\nTerraform said:\n{failure}"
        ) from failure
