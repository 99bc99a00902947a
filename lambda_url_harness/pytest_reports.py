"""What the pytest plugin adds to pytest's reports: why a test using a deployment failed, and how long phases took.

* A failed test (its setup or call) gets report sections with the log lines its deployments' functions wrote since
  the test began (init errors and tracebacks included; an SQS- or S3-triggered invocation's too) and LocalStack's own
  Lambda lines for the same time (:mod:`lambda_url_harness.localstack_log`): pytest prints them under the failure.
* The phase-timing summary at the end; under pytest-xdist every worker sends its phases to the controller, which
  prints them all, each labelled with its worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.localstack_log import lambda_lines, read_log
from lambda_url_harness.timing import PhaseRecord, PhaseTimer

log = logging.getLogger(__name__)

FUNCTION_LOG_LINES = 40
LOCALSTACK_LOG_LINES = 60
WORKER_OUTPUT_KEY = "lambda_url_harness_phases"
"""Where an xdist worker puts its phase records for the controller (``config.workeroutput``)."""
STARTED_KEY = pytest.StashKey[float]()


class HarnessReports:
    """Registered by the plugin as ``lambda_url_harness.reports``; ``deployments`` and ``localstack`` are filled in
    by the fixtures as they create them."""

    def __init__(self, timer: PhaseTimer) -> None:
        self.timer = timer
        self.deployments: list[Deployment] = []
        self.localstack: LocalStackHandle | None = None
        self.worker_phases: list[PhaseRecord] = []
        """Phases the xdist workers reported (controller only)."""

    # ------------------------------------------------------------------------------------ failure sections

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[STARTED_KEY] = time.time()

    @pytest.hookimpl(hookwrapper=True)  # the old-style wrapper: pytest 7 has no wrapper=True
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        if report.failed and report.when in ("setup", "call") and STARTED_KEY in item.stash:
            try:
                report.sections.extend(self.failure_sections(item.stash[STARTED_KEY]))
            except Exception as error:  # a report must never fail because its diagnostics did
                report.sections.append(("lambda_url_harness", f"could not collect function logs: {error!r}"))

    def failure_sections(self, since: float) -> list[tuple[str, str]]:
        """``(title, text)`` per function of every deployment that still holds resources, then LocalStack's log."""
        sections: list[tuple[str, str]] = []
        names: list[str] = []
        for deployment in self.deployments:
            if not deployment.tflocal.has_state():
                continue
            for function in deployment.function_names():
                names.append(function)
                sections.append(
                    (f"function log {function} ({deployment.label})", _function_log(deployment, function, since))
                )
        if self.localstack is not None and (names or sections):
            lines = read_log(self.localstack, since)
            if lines is not None:
                text = (
                    "\n".join(lambda_lines(lines, names, LOCALSTACK_LOG_LINES))
                    or "(no Lambda lines since the test began)"
                )
                sections.append((f"LocalStack log, Lambda ({self.localstack.endpoint})", text))
        return sections

    # ------------------------------------------------------------------------------------ phase timings

    @pytest.hookimpl(trylast=True)  # after the runner's own sessionfinish has run the session-scoped finalizers
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_OUTPUT_KEY] = [asdict(record) for record in self.timer.records]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist (controller): a worker finished; keep the phases it timed."""
        worker = node.gateway.id if getattr(node, "gateway", None) is not None else "worker"
        for item in getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY, []):
            record = PhaseRecord(**item)
            self.worker_phases.append(PhaseRecord(f"{worker} {record.label}", record.phase, record.seconds, record.ok))

    def phases(self) -> Sequence[PhaseRecord]:
        return [*self.timer.records, *self.worker_phases]


def _function_log(deployment: Deployment, function: str, since: float) -> str:
    try:
        lines = deployment.logs(function, since=since, limit=FUNCTION_LOG_LINES)
    except (BotoCoreError, ClientError) as error:
        return f"(could not read its log: {error})"
    if not lines:
        return "(no log lines since the test began: the function was not invoked, or its log group is elsewhere)"
    return "\n".join(str(line) for line in lines)
