"""pytest plugin (entry point ``pytest11``): test any Terraform module against LocalStack.

Installed with the package (``pip install <this repo>``), it adds

* fixture ``localstack`` (session): a :class:`~lambda_url_harness.localstack_handle.LocalStackHandle` (``.endpoint``),
  found or started per ``--localstack=auto|external|docker|embedded`` and stopped at the end if this session
  started it; ``localstack_endpoint`` and ``aws_client("s3")`` (boto3, test credentials, S3 path-style) next to it;
* fixtures ``terraform_deploy`` (function scope), ``terraform_deploy_module`` and ``terraform_deploy_session``:
  factories ``deploy(module_dir, variables=None, *, root=".", include=None, apply=True, name=None)`` returning a
  :class:`~lambda_url_harness.deployment.Deployment` (``.outputs``, ``.http``, ``.plan()``, ``.logs()``,
  ``.eventually()``, ``.destroy()``), destroyed when the scope ends (destroy is registered before apply, so a failed
  apply is cleaned up too) and checked against LocalStack afterwards;
* options ``--localstack``, ``--localstack-python``, ``--localstack-services``, ``--keep-deployments``,
  ``--no-provider-reuse`` and ``--terraform-output``; marker ``localstack_services("s3", ...)``;
* report sections with the functions' and LocalStack's log lines under a failed test, and the phase timings
  (:mod:`lambda_url_harness.pytest_reports`); SIGTERM handled like Ctrl-C (deployments are still destroyed).

Under pytest-xdist every worker is its own session: it starts its own LocalStack on a free port (or shares an
external one), copies modules into its own workspaces and cleans up after itself. docs/harness.md has the guide.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from botocore.config import Config

from embedded_localstack.control.health import parse_services
from embedded_localstack.paths import state_root
from lambda_url_harness.aws import DEFAULT_REGION, localstack_client
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.discovery import REQUIRED_SERVICES, DiscoveryOptions, Mode
from lambda_url_harness.errors import LocalStackUnavailableError
from lambda_url_harness.kept import how_to_destroy
from lambda_url_harness.kept import keep as keep_deployment
from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.pytest_reports import HarnessReports
from lambda_url_harness.session import HarnessSession
from lambda_url_harness.timing import summarize
from lambda_url_harness.workspace import create_workspace

log = logging.getLogger(__name__)
SERVICES_VARIABLE = "LOCALSTACK_TEST_SERVICES"
"""Default of ``--localstack-services``."""

DeployFactory = Callable[..., Deployment]
"""``deploy(module_dir, variables=None, *, root=".", include=None, apply=True, name=None) -> Deployment``."""

STATE_KEY = pytest.StashKey[HarnessSession]()
"""The session's :class:`~lambda_url_harness.session.HarnessSession` (one per pytest session or xdist worker)."""
KEPT_KEY = pytest.StashKey[list[str]]()
"""How to destroy what ``--keep-deployments`` left running, printed in the summary."""
REPORTS_KEY = pytest.StashKey[HarnessReports]()
SERVICES_KEY = pytest.StashKey[tuple[str, ...]]()
"""Extra services the collected tests ask for with the ``localstack_services`` marker."""
SIGTERM_KEY = pytest.StashKey[Any]()
"""The SIGTERM handler the plugin replaced (restored at the end)."""
SERVICES_MARKER = "localstack_services"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lambda_url_harness", "Terraform modules on LocalStack (lambda_url_harness)")
    group.addoption(
        "--localstack",
        choices=[mode.value for mode in Mode],
        default=Mode.AUTO.value,
        help="how to get LocalStack: auto (LOCALSTACK_ENDPOINT/AWS_ENDPOINT_URL, then 127.0.0.1:4566, then "
        "Docker, then embedded), or force one of external/docker/embedded (embedded: Linux only)",
    )
    group.addoption(
        "--localstack-python",
        type=Path,
        default=None,
        help="embedded mode: the python of an existing LocalStack venv (default: the checkout's "
        ".venv-localstack, else one provisioned once in the user cache)",
    )
    group.addoption(
        "--localstack-services",
        default=os.environ.get(SERVICES_VARIABLE, ""),
        metavar="S3,SQS,...",
        help="comma-separated extra services for a LocalStack the plugin starts; a found one must serve them "
        f"(iam,lambda,logs,sts are always on); default: ${SERVICES_VARIABLE}",
    )
    group.addoption(
        "--keep-deployments",
        action="store_true",
        help="do not destroy deployments (nor stop a LocalStack the session started); print how to do it later",
    )
    group.addoption(
        "--no-provider-reuse",
        action="store_true",
        help="let Terraform start its own aws provider for every phase of every command, as plain tflocal does "
        "(default: each deployment's commands share one provider process, docs/harness.md)",
    )
    group.addoption(
        "--terraform-output",
        action="store_true",
        help="show tflocal/terraform output live (otherwise it is quoted only when a command fails)",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:  # before any test or LocalStack starts: a typo is a usage error, not a failed session
        parse_services(config.getoption("--localstack-services"))
    except ValueError as exc:
        raise pytest.UsageError(f"--localstack-services: {exc}") from None
    config.addinivalue_line(
        "markers",
        f"{SERVICES_MARKER}(*names): LocalStack services these tests need besides iam, lambda, logs and sts "
        "(a LocalStack the plugin starts serves them; a found one must)",
    )
    echo = functools.partial(say, config) if config.getoption("--terraform-output") else None
    harness = HarnessSession(
        state_root(),
        label=_run_label(config),
        reuse_provider=not config.getoption("--no-provider-reuse"),
        share_validations=True,  # the session's deployments validate each configuration once
        echo=echo,
    )
    config.stash[STATE_KEY] = harness
    config.stash[KEPT_KEY] = []
    config.stash[SERVICES_KEY] = ()
    config.stash[REPORTS_KEY] = reports = HarnessReports(harness.timer)
    config.pluginmanager.register(reports, "lambda_url_harness.reports")
    _handle_sigterm_as_interrupt(config)


def _handle_sigterm_as_interrupt(config: pytest.Config) -> None:
    """SIGTERM (CI cancelling a job, ``kill``) ends pytest like Ctrl-C: KeyboardInterrupt, so a running Terraform
    command is interrupted gracefully and the fixtures' finalizers still destroy what was deployed. Only when nobody
    else handles SIGTERM, and only in the main thread (where signal handlers live)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    config.stash[SIGTERM_KEY] = signal.signal(signal.SIGTERM, interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [str(name) for item in items for marker in item.iter_markers(SERVICES_MARKER) for name in marker.args]
    try:
        parse_services(wanted)
    except ValueError as exc:
        raise pytest.UsageError(f"@pytest.mark.{SERVICES_MARKER}: {exc}") from None
    config.stash[SERVICES_KEY] = tuple(dict.fromkeys(name.lower() for name in wanted))


def _run_label(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", {}).get("workerid")
    return f"pytest {worker}" if worker else "pytest"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Before anything starts: a SIGKILLed earlier run may have left LocalStack, tflocal or state behind.
    session.config.stash[STATE_KEY].recover()


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(STATE_KEY, None)
    if harness is not None:
        harness.close()  # the fixtures' finalizers have run: nothing recorded is left to clear
    if SIGTERM_KEY in config.stash:
        signal.signal(signal.SIGTERM, config.stash[SIGTERM_KEY])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    reports = config.stash.get(REPORTS_KEY, None)
    if reports is None:
        return
    phases = reports.phases()  # under xdist: every worker's, sent to the controller
    if phases:
        terminalreporter.write_sep("-", "deployment phase timings")
        terminalreporter.write_line(summarize(phases))
    kept = config.stash.get(KEPT_KEY, [])
    if kept:
        terminalreporter.write_sep("-", "kept running (--keep-deployments); to remove them later")
        for line in kept:
            terminalreporter.write_line(line)


def say(config: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal now, past pytest's output capture (progress, live Terraform output)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:  # e.g. an xdist worker: its stderr is the only way out
        print(line, file=sys.stderr, flush=True)
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        reporter.write_line(line)


# ------------------------------------------------------------------------------------------- LocalStack


@pytest.fixture(scope="session")
def localstack(request: pytest.FixtureRequest) -> Iterator[LocalStackHandle]:
    """The LocalStack for this session; stopped at the end if this session started it."""
    config = request.config
    harness = config.stash[STATE_KEY]
    extra = tuple(
        dict.fromkeys(
            [
                *(name.strip().lower() for name in config.getoption("--localstack-services").split(",") if name),
                *config.stash[SERVICES_KEY],
            ]
        )
    )
    options = DiscoveryOptions(
        mode=Mode(config.getoption("--localstack")),
        env=dict(os.environ),
        required_services=tuple(dict.fromkeys((*REQUIRED_SERVICES, *extra))),  # a found one must serve them too
        start_port=None,  # a free port: never a user's 4566, never another xdist worker's
        paths=harness.paths,
        embedded_python=config.getoption("--localstack-python"),
        extra_services=extra,
        progress=functools.partial(say, config),
    )
    failure: str | None = None
    try:
        handle = harness.acquire_localstack(options)
    except LocalStackUnavailableError as exc:
        failure = str(exc)
        if extra:
            failure += (
                f"\nThe tests need {', '.join(extra)} besides {', '.join(REQUIRED_SERVICES)} (--localstack-services, "
                f"${SERVICES_VARIABLE} or the {SERVICES_MARKER} marker): a LocalStack the plugin starts "
                "(--localstack=embedded or docker) serves them; a found one must have been started with them."
            )
    if failure is not None:  # outside the except block: the message alone, no chained traceback
        pytest.fail(failure, pytrace=False)
    config.stash[REPORTS_KEY].localstack = handle
    try:
        yield handle
    finally:
        keep = bool(config.getoption("--keep-deployments")) and handle.owned
        if keep:
            config.stash[KEPT_KEY].append(_how_to_stop(handle))
            handle.mark_run_ended()  # its state dir goes at a run after it was stopped
        elif request.session.testsfailed and handle.scratch:
            log.warning("kept the LocalStack state dir for its log until the next run: %s", handle.state_dir)
        harness.release_localstack(handle, keep=keep, keep_state=bool(request.session.testsfailed))


def _how_to_stop(handle: LocalStackHandle) -> str:
    if handle.source == "docker":
        return f"LocalStack: docker rm -f {handle.container_id}"
    command = [sys.executable, "-m", "embedded_localstack", "stop", "--port", str(handle.port)]
    return f"LocalStack: {shlex.join([*command, '--state-dir', str(handle.state_dir)])}"


@pytest.fixture(scope="session")
def localstack_endpoint(localstack: LocalStackHandle) -> str:
    return localstack.endpoint


@pytest.fixture(scope="session")
def aws_client(localstack_endpoint: str) -> Callable[[str], Any]:
    """``aws_client("s3")``: a boto3 client for LocalStack with test credentials (S3 path-style: no DNS needed);
    ``aws_client("lambda", config=botocore.config.Config(...))`` adds settings."""

    def make(service: str, *, region: str = DEFAULT_REGION, config: Config | None = None) -> Any:
        return localstack_client(service, localstack_endpoint, region, config)

    return make


# ------------------------------------------------------------------------------------------- deployments


def _deploy_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DeployFactory:
    config = request.config
    harness = config.stash[STATE_KEY]
    endpoint: str = request.getfixturevalue("localstack_endpoint")
    keep = bool(config.getoption("--keep-deployments"))

    def deploy(
        module_dir: str | Path,
        variables: dict[str, Any] | None = None,
        *,
        root: str = ".",
        include: tuple[str, ...] | None = None,
        apply: bool = True,
        name: str | None = None,
    ) -> Deployment:
        """Copy ``module_dir`` into a fresh workspace, then ``tflocal init`` + ``apply`` ``root`` (relative to it).

        ``module_dir`` may be relative to pytest's rootdir. ``include`` limits the copy to these globs (default:
        everything but dot-entries, ``.terraform``, state and build outputs). String ``variables`` may use
        ``{suffix}``, replaced by the workspace's unique 6-hex-digit suffix (unique resource names). ``name``
        labels the deployment in logs and the timing summary (default: the module directory's name).
        """
        source = Path(module_dir)
        if not source.is_absolute():
            source = config.rootpath / source
        workspace = create_workspace(source, tmp_path_factory.mktemp("deploy"), include=include)
        resolved = {
            name: value.format(suffix=workspace.suffix) if isinstance(value, str) else value
            for name, value in (variables or {}).items()
        }
        deployment = harness.deployment(
            workspace.path(root),
            endpoint,
            variables=resolved,
            label=f"{name or source.name}{'' if root == '.' else '/' + root}:{workspace.suffix}",
            suffix=workspace.suffix,
            # Shared by later tests: no idle provider (~0.5 GB) until the end of the module or session.
            hold_provider=request.scope == "function",
        )
        harness.ledger.track_workspace(deployment.working_dir, endpoint, resolved)
        config.stash[REPORTS_KEY].deployments.append(deployment)

        def finish() -> None:
            if keep and deployment.tflocal.has_state():
                kept = keep_deployment(deployment, workspace.root, harness.state_dir)
                config.stash[KEPT_KEY].append(_how_to_use_kept(deployment, kept, harness.state_dir))
            else:
                deployment.destroy()  # if it fails, the workspace stays recorded: the next run destroys it
            harness.ledger.forget_workspace(deployment.working_dir)

        # Registered before apply: a half-finished apply is still destroyed.
        request.addfinalizer(finish)
        if apply:
            deployment.apply()
        return deployment

    return deploy


def _how_to_use_kept(deployment: Deployment, working_dir: Path, state_dir: Path) -> str:
    tflocal = shlex.quote(deployment.tflocal.binary)
    return (
        f"{deployment.label}: kept in {working_dir}\n"
        f"  destroy it (checked): {how_to_destroy(working_dir, state_dir)}\n"
        f"  tflocal by hand: cd {shlex.quote(str(working_dir))} && {deployment.tflocal.hand_run_environment()} "
        f"{tflocal} plan"
    )


@pytest.fixture
def terraform_deploy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DeployFactory:
    """``terraform_deploy(module_dir, variables=None, ...)``: deployed for this test, destroyed after it."""
    return _deploy_factory(request, tmp_path_factory)


@pytest.fixture(scope="module")
def terraform_deploy_module(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DeployFactory:
    """Like ``terraform_deploy``; destroyed when the test module finishes (shared by its tests)."""
    return _deploy_factory(request, tmp_path_factory)


@pytest.fixture(scope="session")
def terraform_deploy_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DeployFactory:
    """Like ``terraform_deploy``; destroyed at the end of the session (one apply shared by many tests)."""
    return _deploy_factory(request, tmp_path_factory)
