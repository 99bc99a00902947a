"""Session-wide fixtures: LocalStack (found or started), phase timings, module deployments.

``--localstack=auto|external|docker|embedded`` picks how LocalStack is found (see
:mod:`lambda_url_harness.localstack`). When the harness has to start one for the tests it
uses a free port and a private state dir, so a user's ``make start`` on 4566 is never
touched, and it stops it at the end of the session, also on failure.

What a session creates that would outlive it when it is SIGKILLed (the LocalStack it started,
temp workspaces with state, tflocal process groups) is recorded by a
:class:`~lambda_url_harness.runs.RunLedger` in ``.state/runs/``; the next session clears such
leftovers first (:func:`~lambda_url_harness.runs.recover_stale_runs`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from embedded_localstack.launcher import parse_services
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.inventory import localstack_session
from lambda_url_harness.localstack import DiscoveryOptions, LocalStackLease, LocalStackUnavailableError, Mode, acquire
from lambda_url_harness.project import DEFAULT_REGION, REPO_ROOT, STATE_DIR
from lambda_url_harness.runs import RunLedger, recover_stale_runs
from lambda_url_harness.terraform import run_bounded
from lambda_url_harness.timing import PhaseTimer
from lambda_url_harness.workspace import create_workspace

log = logging.getLogger("lambda_url_harness.conftest")

PHASE_TIMER_KEY = pytest.StashKey[PhaseTimer]()
RUN_LEDGER_KEY = pytest.StashKey[RunLedger]()
SERVICES_KEY = pytest.StashKey[tuple[str, ...]]()

DeployFactory = Callable[..., Deployment]
SERVICES_VARIABLE = "LOCALSTACK_TEST_SERVICES"
"""Default of ``--localstack-services``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--localstack",
        choices=[mode.value for mode in Mode],
        default=Mode.AUTO.value,
        help="how acceptance tests get LocalStack: auto (env endpoint, then 127.0.0.1:4566, then Docker, "
        "then embedded), or force one of external/docker/embedded",
    )
    parser.addoption(
        "--localstack-services",
        default=os.environ.get(SERVICES_VARIABLE, ""),
        metavar="S3,SQS,...",
        help="LocalStack services the tests need besides iam, lambda, logs, sts (a LocalStack the session starts "
        f"serves them; a found one must); default: ${SERVICES_VARIABLE}",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[SERVICES_KEY] = parse_services(config.getoption("--localstack-services"))
    except ValueError as exc:
        raise pytest.UsageError(f"--localstack-services: {exc}") from None
    config.stash[PHASE_TIMER_KEY] = PhaseTimer()
    config.stash[RUN_LEDGER_KEY] = RunLedger(STATE_DIR, label="pytest")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Before anything starts: a SIGKILLed earlier run may have left LocalStack, tflocal or state behind.
    recover_stale_runs(STATE_DIR)


def pytest_unconfigure(config: pytest.Config) -> None:
    ledger = config.stash.get(RUN_LEDGER_KEY, None)
    if ledger is not None:
        ledger.close()  # the fixtures' finalizers have run: nothing recorded is left to clear


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    timer = config.stash.get(PHASE_TIMER_KEY, None)
    if timer is not None and timer.records:
        terminalreporter.write_sep("-", "deployment phase timings")
        terminalreporter.write_line(timer.summary())


@pytest.fixture(scope="session")
def phase_timer(pytestconfig: pytest.Config) -> PhaseTimer:
    return pytestconfig.stash[PHASE_TIMER_KEY]


@pytest.fixture(scope="session")
def run_ledger(pytestconfig: pytest.Config) -> RunLedger:
    return pytestconfig.stash[RUN_LEDGER_KEY]


@pytest.fixture(scope="session")
def localstack(
    request: pytest.FixtureRequest, phase_timer: PhaseTimer, run_ledger: RunLedger
) -> Iterator[LocalStackLease]:
    """The LocalStack for this session; stopped at the end if this session started it."""
    services = request.config.stash[SERVICES_KEY]
    options = DiscoveryOptions(
        mode=Mode(request.config.getoption("--localstack")),
        env=dict(os.environ),
        start_port=None,
        required_services=services,
    )
    failure: str | None = None
    try:
        with phase_timer.phase("localstack", options.mode.value):
            lease = acquire(options)
    except LocalStackUnavailableError as exc:
        failure = str(exc)
    if failure is not None:  # outside the except block: the message alone, no chained traceback
        pytest.fail(failure, pytrace=False)
    run_ledger.track_lease(lease)
    try:
        yield lease
    finally:
        lease.stop()
        run_ledger.forget_localstack(lease.endpoint)
        if request.session.testsfailed:
            log.warning("kept the LocalStack state dir for its log: %s", lease.scratch_dir)
        else:
            lease.discard_scratch()


@pytest.fixture(scope="session")
def localstack_endpoint(localstack: LocalStackLease) -> str:
    return localstack.endpoint


@pytest.fixture(scope="session")
def aws_client(localstack_endpoint: str) -> Callable[[str], Any]:
    """``aws_client("lambda")``: a boto3 client for LocalStack with test credentials."""
    session = localstack_session(DEFAULT_REGION)

    def make(service: str) -> Any:
        return session.client(service, endpoint_url=localstack_endpoint)

    return make


def _deploy_factory(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    endpoint: str,
    timer: PhaseTimer,
    ledger: RunLedger,
) -> DeployFactory:
    def deploy(root: str = ".", variables: dict[str, Any] | None = None, *, apply: bool = True) -> Deployment:
        """Copy the module into a fresh workspace and apply ``root`` (relative to the module) there.

        ``variables`` may use ``{suffix}``, replaced by the workspace's unique suffix; by default
        the module root gets ``function_name = "square-<suffix>"``.
        """
        workspace = create_workspace(REPO_ROOT, tmp_path_factory.mktemp("deploy"))
        if variables is None:
            variables = {"function_name": "square-{suffix}"} if root == "." else {}
        resolved = {
            name: value.format(suffix=workspace.suffix) if isinstance(value, str) else value
            for name, value in variables.items()
        }
        deployment = Deployment(
            workspace.path(root),
            endpoint,
            timer,
            variables=resolved,
            label=f"{root}:{workspace.suffix}",
            suffix=workspace.suffix,
            runner=functools.partial(run_bounded, tracker=ledger),
        )
        ledger.track_workspace(deployment.working_dir, endpoint, resolved)

        def destroy() -> None:
            try:
                deployment.destroy()
            finally:
                ledger.forget_workspace(deployment.working_dir)

        # Registered before apply: a half-finished apply is still destroyed.
        request.addfinalizer(destroy)
        if apply:
            deployment.apply()
        return deployment

    return deploy


@pytest.fixture(scope="module")
def deploy_module(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    localstack_endpoint: str,
    phase_timer: PhaseTimer,
    run_ledger: RunLedger,
) -> DeployFactory:
    """Factory: ``deploy_module(root=".", variables=None)``; everything it deployed is destroyed
    when the test module finishes (each apply+destroy costs ~45 s, so modules share them)."""
    return _deploy_factory(request, tmp_path_factory, localstack_endpoint, phase_timer, run_ledger)


@pytest.fixture(scope="session")
def square_deployment(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    localstack_endpoint: str,
    phase_timer: PhaseTimer,
    run_ledger: RunLedger,
) -> Deployment:
    """The module with default inputs, applied once per session and answering 200.

    Shared by every test module that only reads (calls the URL, inspects resources, plans):
    each extra apply+destroy would cost ~45 s. Tests that change or destroy a deployment
    use ``deploy_module`` instead.
    """
    deployment = _deploy_factory(request, tmp_path_factory, localstack_endpoint, phase_timer, run_ledger)()
    deployment.wait_for_first_200()
    return deployment


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
