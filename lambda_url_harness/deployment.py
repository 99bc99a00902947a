"""One Terraform root applied with tflocal against one LocalStack: init, apply, first 200, destroy."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from embedded_localstack.control.lifecycle import health
from lambda_url_harness.function_url import (
    FUNCTION_ERROR_STATUS,
    FunctionUrlAuth,
    FunctionUrlError,
    function_url_session,
    wait_for_status,
)
from lambda_url_harness.inventory import localstack_session
from lambda_url_harness.processes import ProcessTracker
from lambda_url_harness.project import DEFAULT_REGION, STATE_DIR
from lambda_url_harness.provider_proxy import ValidationCache
from lambda_url_harness.terraform import CommandTimeouts, Runner, TerraformError, Tflocal, run_bounded, tflocal_env
from lambda_url_harness.timing import PhaseTimer

log = logging.getLogger(__name__)

SMOKE_PAYLOAD = {"number": 6}
SMOKE_RESULT = {"result": 36}

FAST_FAIL_OVERRIDE = "harness_fast_fail_override.tf"
"""Written only for a destroy against an endpoint that no longer answers, removed right after.

Against a dead endpoint the aws provider retries each call up to ``max_retries`` (default 25) with
back-off: measured 84 s just to fail its account lookup, before any resource. One attempt fails in
~7 s with the same message.
"""
FAST_FAIL_PROVIDER = 'provider "aws" {\n  max_retries = 1\n}\n'
FAST_FAIL_DESTROY_TIMEOUT_S = 90.0


class LocalStackGoneError(RuntimeError):
    """LocalStack stopped answering while Terraform worked against it; the message says what that means."""


class Deployment:
    """A root configuration (the module itself, or an example calling it) in ``working_dir``.

    ``destroy()`` is safe to call at any point, any number of times: it runs
    ``tflocal destroy`` whenever init got far enough to leave state behind, which is why
    callers register it as a finalizer *before* ``apply()``.

    Its Terraform commands share one aws provider process (``reuse_provider``, see
    :mod:`lambda_url_harness.provider_server`); ``destroy()`` ends it, and a deployment that is kept calls
    ``close()``. ``tracker`` records that process for the next run should this one be killed; ``validation_cache``
    may be shared by several deployments (the pytest plugin shares one per session).
    """

    def __init__(
        self,
        working_dir: Path,
        endpoint: str,
        timer: PhaseTimer,
        *,
        variables: Mapping[str, Any] | None = None,
        label: str = "",
        suffix: str = "",
        region: str = DEFAULT_REGION,
        state_dir: Path = STATE_DIR,
        timeouts: CommandTimeouts | None = None,
        runner: Runner = run_bounded,
        refresh_before_destroy: bool = False,
        reuse_provider: bool = True,
        tracker: ProcessTracker | None = None,
        validation_cache: ValidationCache | None = None,
        hold_provider: bool = True,
    ) -> None:
        self.working_dir = working_dir
        self.hold_provider = hold_provider
        """False: the aws provider ends after each command (a deployment many tests share stays up for long, and an
        idle provider holds ~0.5 GB); the next command starts another (~0.1 s; validations from the cache)."""
        self.refresh_before_destroy = refresh_before_destroy
        """False (default) for the harness's own workspaces: ``destroy -refresh=false``.

        Nothing but this deployment changes its resources between apply and destroy, so the refresh would only
        re-read what the state already says: one more aws provider start-up plus a read of every resource
        (~3-4 s of a ~15 s destroy here). A resource that is gone anyway is fine: the aws provider treats
        NotFound on delete as done for every resource type of the module. A root a user also manages by hand
        (``make destroy``) passes True.
        """
        self.endpoint = endpoint
        self.region = region
        self.variables = dict(variables or {})
        self.label = label or working_dir.name
        self.suffix = suffix
        """The workspace's unique suffix, which resource names derive from."""
        self.timer = timer
        self.tflocal = Tflocal(
            working_dir,
            tflocal_env(endpoint, state_dir, region),
            self.variables,
            timeouts=timeouts,
            runner=runner,
            reuse_provider=reuse_provider,
            tracker=tracker,
            validation_cache=validation_cache,
        )
        self.outputs: dict[str, Any] = {}
        self._initialized = False
        self._http: requests.Session | None = None
        self._signed_http: requests.Session | None = None

    @property
    def function_url(self) -> str:
        try:
            return str(self.outputs["function_url"])
        except KeyError:
            raise KeyError(f"{self.working_dir} has no function_url output (outputs: {sorted(self.outputs)})") from None

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
                if health(self.endpoint) is None:
                    raise LocalStackGoneError(
                        f"LocalStack at {self.endpoint} stopped answering during `apply` in {self.working_dir}; "
                        "the apply failed halfway. Check its log (embedded: the state dir's localstack.log). "
                        f"Terraform said:\n{exc}"
                    ) from exc
                raise
        self.outputs = self.tflocal.outputs()
        self._release_provider()

    def wait_for_first_200(self, payload: Any = SMOKE_PAYLOAD, attempts: int = 30) -> requests.Response:
        """POST to the Function URL until it answers 200 (a new function may still be Pending)."""
        with self.session() as session, self.timer.phase("first 200", self.label):
            try:
                return wait_for_status(session, self.function_url, payload, attempts=attempts)
            except FunctionUrlError as exc:
                if exc.status != FUNCTION_ERROR_STATUS:
                    raise
                raise FunctionUrlError(f"{exc}\n{self.recent_function_logs()}", exc.status) from exc

    def recent_function_logs(self, limit: int = 30) -> str:
        """The function's last log lines (the traceback or "Task timed out"), for error messages."""
        group = self.outputs.get("log_group_name")
        if not group:
            return "(no log_group_name output to read the function's log from)"
        logs = localstack_session(self.region).client("logs", endpoint_url=self.endpoint)
        try:
            events = logs.filter_log_events(logGroupName=str(group), limit=10_000).get("events", [])
        except (BotoCoreError, ClientError) as exc:
            return f"(could not read log group {group}: {exc})"
        lines = [event["message"].rstrip() for event in sorted(events, key=lambda e: e["timestamp"])[-limit:]]
        return f"--- last {len(lines)} lines of log group {group} ---\n" + "\n".join(lines)

    def plan_has_changes(self) -> bool:
        with self.timer.phase("plan", self.label):
            changes = self.tflocal.plan_has_changes()
        self._release_provider()
        return changes

    def _release_provider(self) -> None:
        if not self.hold_provider:
            self.tflocal.close()

    def close(self) -> None:
        """Release what this object holds (HTTP session, aws provider process); the deployment itself stays."""
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
        if health(self.endpoint) is None:
            self._destroy_against_dead_endpoint()
            return
        with self.timer.phase("destroy", self.label):
            self.tflocal.destroy(refresh=self.refresh_before_destroy)
        self.outputs = {}

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
            f"at {self.endpoint}. Its state still lists {', '.join(self.tflocal.state_addresses())}. "
            "Those resources lived in that LocalStack: one without persistence (embedded, or Docker without "
            "PERSISTENCE=1) took them with it, so nothing is left deployed; delete the state. A persistent "
            f"LocalStack: start it again and destroy.\nTerraform said:\n{failure}"
        ) from failure
