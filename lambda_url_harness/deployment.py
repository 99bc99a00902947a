"""One Terraform root applied with tflocal against one LocalStack: init, apply, first 200, destroy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from lambda_url_harness.function_url import function_url_session, wait_for_status
from lambda_url_harness.project import DEFAULT_REGION, STATE_DIR
from lambda_url_harness.terraform import CommandTimeouts, Tflocal, tflocal_env
from lambda_url_harness.timing import PhaseTimer

log = logging.getLogger(__name__)

SMOKE_PAYLOAD = {"number": 6}
SMOKE_RESULT = {"result": 36}


class Deployment:
    """A root configuration (the module itself, or an example calling it) in ``working_dir``.

    ``destroy()`` is safe to call at any point, any number of times: it runs
    ``tflocal destroy`` whenever init got far enough to leave state behind, which is why
    callers register it as a finalizer *before* ``apply()``.
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
    ) -> None:
        self.working_dir = working_dir
        self.endpoint = endpoint
        self.region = region
        self.variables = dict(variables or {})
        self.label = label or working_dir.name
        self.suffix = suffix
        """The workspace's unique suffix, which resource names derive from."""
        self.timer = timer
        self.tflocal = Tflocal(working_dir, tflocal_env(endpoint, state_dir, region), self.variables, timeouts=timeouts)
        self.outputs: dict[str, Any] = {}
        self._initialized = False

    @property
    def function_url(self) -> str:
        try:
            return str(self.outputs["function_url"])
        except KeyError:
            raise KeyError(f"{self.working_dir} has no function_url output (outputs: {sorted(self.outputs)})") from None

    def session(self) -> requests.Session:
        return function_url_session(self.endpoint)

    def init(self) -> None:
        with self.timer.phase("init", self.label):
            self.tflocal.init()
        self._initialized = True

    def apply(self) -> None:
        if not self._initialized:
            self.init()
        with self.timer.phase("apply", self.label):
            self.tflocal.apply()
        self.outputs = self.tflocal.outputs()

    def wait_for_first_200(self, payload: Any = SMOKE_PAYLOAD, attempts: int = 30) -> requests.Response:
        """POST to the Function URL until it answers 200 (a new function may still be Pending)."""
        with self.session() as session, self.timer.phase("first 200", self.label):
            return wait_for_status(session, self.function_url, payload, attempts=attempts)

    def plan_has_changes(self) -> bool:
        with self.timer.phase("plan", self.label):
            return self.tflocal.plan_has_changes()

    def destroy(self) -> None:
        if not self.tflocal.has_state():
            log.info("%s: nothing to destroy", self.label)
            return
        if not self._initialized and not (self.working_dir / ".terraform").is_dir():
            self.init()
        with self.timer.phase("destroy", self.label):
            self.tflocal.destroy()
        self.outputs = {}
