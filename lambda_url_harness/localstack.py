"""Finding or starting LocalStack, in a fixed order, and stopping only what we started.

Order for ``auto`` (each step can be forced alone with ``mode``):

1. ``external``: ``LOCALSTACK_ENDPOINT`` (or ``AWS_ENDPOINT_URL``) is set and healthy;
2. ``running``: a LocalStack already answers at ``http://127.0.0.1:4566``;
3. ``docker``: the docker SDK reaches a daemon -> run the pinned image with the Docker socket
   mounted (its Lambda executor starts function containers through it);
4. ``embedded``: our Docker-free LocalStack (:mod:`embedded_localstack.control.lifecycle`).

A forced ``external`` accepts the environment variables or, without them, the default endpoint.
The steps and which mode tries which are two tables at the end (:data:`STEPS`, :data:`MODE_STEPS`).
"""

from __future__ import annotations

import logging
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import requests
from docker.errors import DockerException, NotFound

from embedded_localstack.control import lifecycle, provision
from embedded_localstack.paths import state_root
from lambda_url_harness import processes

log = logging.getLogger(__name__)

DEFAULT_PORT = 4566
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"
ENDPOINT_ENV_VARS = ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
REQUIRED_SERVICES = ("iam", "lambda", "logs", "sts")
DOCKER_IMAGE = "localstack/localstack:4.9.2"
"""Pinned to the version the embedded mode runs, so both modes behave the same."""
DOCKER_LABEL = "lambda-url-harness"
_UNUSABLE_SERVICE_STATES = {"disabled", "error", "stopped", "stopping"}


class Mode(StrEnum):
    AUTO = "auto"
    EXTERNAL = "external"
    DOCKER = "docker"
    EMBEDDED = "embedded"


class LocalStackUnavailableError(RuntimeError):
    """No LocalStack could be found or started; the message lists what was tried and how to fix it."""


@dataclass
class LocalStackHandle:
    """One LocalStack: where it came from, where it answers, which process or container it is, whether we own it.

    The one type for a LocalStack throughout the harness: the pytest fixture yields it, ``deploy`` records it
    for ``destroy`` and run records keep it for recovery (:meth:`to_json` / :meth:`from_json`). :meth:`stop`
    stops it only when we started it (``owned``) and, for a process, only after checking that the PID still
    runs the process that started at ``started`` (a LocalStack someone else started later on the same port,
    or a reused PID, is never signalled).
    """

    source: str
    """Which discovery step provided it: external, running, docker or embedded."""
    endpoint: str
    owned: bool
    """True when we started it (and so stop it)."""
    pid: int | None = None
    """The embedded LocalStack's process (group leader)."""
    started: float | None = None
    """That process's start time (epoch seconds, :func:`lambda_url_harness.processes.start_time`)."""
    container_id: str = ""
    state_dir: str | None = None
    """The embedded LocalStack's state dir (PID file, log, data)."""
    scratch: bool = False
    """True when ``state_dir`` is a throw-away dir of this run, removed by :meth:`discard_scratch`."""
    found_via: str = ""
    """How an unowned one was found, e.g. the environment variable naming it."""

    @property
    def port(self) -> int:
        return urlsplit(self.endpoint).port or DEFAULT_PORT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LocalStackHandle:
        known = {item.name for item in fields(cls)}
        return cls(**{name: value for name, value in document.items() if name in known})

    def is_alive(self) -> bool:
        """For an embedded one: its process still runs; otherwise whether the endpoint answers."""
        if self.pid is not None:
            return processes.is_same_process(self.pid, self.started)
        return lifecycle.health(self.endpoint) is not None

    def stop(self, docker_client: Callable[[], Any] | None = None) -> bool:
        """Stop it if we own it and it is still the same process/container; True when something was stopped.

        Idempotent: afterwards ``owned`` is False. ``docker_client`` replaces ``docker.from_env`` (tests).
        """
        if not self.owned:
            return False
        self.owned = False
        if self.source == "embedded":
            return self._stop_embedded()
        if self.source == "docker":
            return self._remove_container(docker_client or docker.from_env)
        return False

    def _stop_embedded(self) -> bool:
        if not processes.is_same_process(self.pid, self.started):
            log.info("the embedded LocalStack pid %s (%s) is gone; nothing to stop", self.pid, self.endpoint)
            return False
        if self.state_dir is None:
            raise LocalStackUnavailableError(f"no state dir recorded for the embedded LocalStack at {self.endpoint}")
        log.info("stopping the embedded LocalStack at %s (pid %s)", self.endpoint, self.pid)
        # lifecycle.stop re-checks that its PID file names our LocalStack process and stops the whole tree.
        return lifecycle.stop(lifecycle.EmbeddedSettings(port=self.port, state_dir=Path(self.state_dir)))

    def _remove_container(self, client: Callable[[], Any]) -> bool:
        try:
            client().containers.get(self.container_id).remove(force=True)
        except NotFound:
            log.info("container %s is already gone", self.container_id[:12])
            return False
        except DockerException as exc:
            raise LocalStackUnavailableError(
                f"could not remove LocalStack container {self.container_id}: {exc}"
            ) from exc
        log.info("removed LocalStack container %s", self.container_id[:12])
        return True

    def discard_scratch(self) -> None:
        """Delete a throw-away state dir (call after ``stop()``; keep it when its log is needed)."""
        if self.scratch and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)


@dataclass(frozen=True)
class DiscoveryOptions:
    mode: Mode = Mode.AUTO
    env: Mapping[str, str] = field(default_factory=dict)
    default_endpoint: str = DEFAULT_ENDPOINT
    required_services: tuple[str, ...] = REQUIRED_SERVICES
    start_port: int | None = 4566
    """Port for a LocalStack we start (docker/embedded); None picks a free one (tests, so a
    user's ``make start`` on 4566 and parallel workers never clash)."""
    embedded_state_dir: Path | None = None
    """None: the launcher's default for port 4566, else a throw-away dir under the state root."""
    embedded_python: Path | None = None
    """The interpreter of a LocalStack venv for embedded mode; None: :func:`provision.localstack_python` picks."""
    progress: Callable[[str], None] = log.info
    """Where to say what takes long (provisioning LocalStack's environment)."""
    extra_services: tuple[str, ...] = ()
    """Services a LocalStack we start enables on top of ``required_services``."""
    startup_timeout_s: float = 120.0

    def services_to_start(self) -> tuple[str, ...]:
        """The SERVICES of a LocalStack we start (docker or embedded): required plus extra, each once."""
        return tuple(dict.fromkeys((*self.required_services, *self.extra_services)))


# ---------------------------------------------------------------- health


def missing_services(document: Mapping[str, Any], required: tuple[str, ...]) -> list[str]:
    services = document.get("services") or {}
    return [name for name in required if services.get(name, "disabled") in _UNUSABLE_SERVICE_STATES]


def describe_non_localstack(endpoint: str, timeout_s: float = 2.0) -> str:
    """What answers at ``endpoint`` instead of LocalStack, for error messages (e.g. a squatter on 4566)."""
    with requests.Session() as session:
        session.trust_env = False
        try:
            response = session.get(f"{endpoint.rstrip('/')}/_localstack/health", timeout=timeout_s)
        except requests.ConnectionError as exc:
            if "refused" in str(exc).lower():
                return f"nothing listens at {endpoint}"
            return f"something at {endpoint} accepts connections but speaks no HTTP ({type(exc).__name__})"
        except requests.Timeout:
            return f"something at {endpoint} accepts connections but does not answer within {timeout_s:.0f} s"
        except requests.RequestException as exc:
            return f"no usable answer from {endpoint} ({type(exc).__name__}: {exc})"
    server = response.headers.get("Server", "")
    return (
        f"{endpoint} answers /_localstack/health with HTTP {response.status_code}"
        f"{f' (Server: {server})' if server else ''}: that is not LocalStack"
    )


def check_endpoint(endpoint: str, required: tuple[str, ...]) -> str | None:
    """None when ``endpoint`` is a healthy LocalStack with ``required`` services, else the reason."""
    document = lifecycle.health(endpoint)
    if document is None:
        return describe_non_localstack(endpoint)
    missing = missing_services(document, required)
    if missing:
        return f"LocalStack at {endpoint} lacks services {', '.join(missing)} (set SERVICES to include them)"
    return None


def wait_healthy(endpoint: str, required: tuple[str, ...], timeout_s: float, interval_s: float = 1.0) -> str | None:
    """Poll until healthy; None on success, else the last reason. Bounded by time and count."""
    deadline = time.monotonic() + timeout_s
    for _ in range(max(1, int(timeout_s / interval_s))):
        reason = check_endpoint(endpoint, required)
        if reason is None:
            return None
        if time.monotonic() > deadline:  # each check may itself wait for a silent squatter
            break
        time.sleep(interval_s)
    return reason


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- steps
# Each step returns a handle, or a reason why it could not provide one.

StepResult = LocalStackHandle | str


def try_external(options: DiscoveryOptions) -> StepResult:
    for name in ENDPOINT_ENV_VARS:
        endpoint = (options.env.get(name) or "").strip().rstrip("/")
        if endpoint:
            reason = check_endpoint(endpoint, options.required_services)
            if reason is None:
                return LocalStackHandle(source="external", endpoint=endpoint, owned=False, found_via=name)
            return f"{name}={endpoint}: {reason}"
    return f"neither {' nor '.join(ENDPOINT_ENV_VARS)} is set"


def try_running(options: DiscoveryOptions) -> StepResult:
    reason = check_endpoint(options.default_endpoint, options.required_services)
    if reason is None:
        return LocalStackHandle(source="running", endpoint=options.default_endpoint, owned=False)
    return reason


def try_docker(options: DiscoveryOptions, client_factory: Callable[[], Any] | None = None) -> StepResult:
    """Run the pinned image; the container is removed on any failure and by ``stop()``."""
    try:
        client = (client_factory or docker.from_env)()
        client.ping()
    except DockerException as exc:
        return f"no Docker daemon reachable through the docker SDK ({exc})"

    port = options.start_port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        container = client.containers.run(
            DOCKER_IMAGE,
            detach=True,
            name=f"{DOCKER_LABEL}-{port}",
            labels={DOCKER_LABEL: "1"},
            # loopback only: nothing here is meant for the network
            ports={"4566/tcp": ("127.0.0.1", port)},
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
            environment={
                "SERVICES": ",".join(options.services_to_start()),
                # Function URLs carry this host:port, so they must name the published port.
                "LOCALSTACK_HOST": f"localhost.localstack.cloud:{port}",
            },
        )
    except DockerException as exc:
        return f"could not run {DOCKER_IMAGE} on 127.0.0.1:{port} ({exc})"

    try:
        reason = wait_healthy(endpoint, options.required_services, options.startup_timeout_s)
    except BaseException:  # interrupted (Ctrl-C) before anything recorded the container: never leave it running
        container.remove(force=True)
        raise
    if reason is not None:
        logs = _container_logs(container)
        try:
            container.remove(force=True)
        except DockerException as exc:
            log.warning("could not remove container %s: %s", container.id, exc)
        return (
            f"container from {DOCKER_IMAGE} did not become healthy in {options.startup_timeout_s:.0f} s: {reason}{logs}"
        )
    return LocalStackHandle(source="docker", endpoint=endpoint, owned=True, container_id=str(container.id))


def _container_logs(container: Any) -> str:
    try:
        tail = container.logs(tail=30).decode(errors="replace").strip()
    except Exception:  # best effort for the error message only
        return ""
    return f"\n    last container log lines:\n{tail}" if tail else ""


def try_embedded(options: DiscoveryOptions) -> StepResult:
    if not sys.platform.startswith("linux"):
        return f"embedded mode runs on Linux only (this is {sys.platform}); use --localstack=external or docker"
    port = options.start_port or free_port()
    scratch = options.embedded_state_dir is None and options.start_port is None
    kwargs: dict[str, Any] = {
        "port": port,
        "startup_timeout_s": options.startup_timeout_s,
        "services": options.services_to_start(),
    }
    if options.embedded_state_dir is not None:
        kwargs["state_dir"] = options.embedded_state_dir
    elif scratch:
        # A private state dir (PID file, data) so `make stop` never touches the test instance.
        kwargs["state_dir"] = state_root() / f"localstack-test-{port}"
    try:
        kwargs["python"] = provision.localstack_python(options.embedded_python, progress=options.progress)
        settings = lifecycle.EmbeddedSettings(**kwargs)
        instance = lifecycle.start(settings)
    except (lifecycle.EmbeddedLocalStackError, provision.ProvisioningError, ValueError) as exc:
        return f"the embedded LocalStack failed to start: {exc}"
    return LocalStackHandle(
        source="embedded",
        endpoint=instance.endpoint,
        owned=bool(instance.owned),
        pid=instance.pid,
        started=processes.start_time(instance.pid) if instance.pid else None,
        state_dir=str(settings.state_dir),
        scratch=scratch and bool(instance.owned),
    )


@dataclass(frozen=True)
class Step:
    """One way to get a LocalStack, and what to do when it fails."""

    provide: Callable[[DiscoveryOptions], StepResult]
    fix: str


STEPS: dict[str, Step] = {
    "external": Step(try_external, "export LOCALSTACK_ENDPOINT=http://<host>:<port> pointing at a healthy LocalStack"),
    "running": Step(try_running, "start one with `make start` (embedded) or `localstack start` (Docker)"),
    "docker": Step(
        try_docker,
        f"start a Docker daemon the docker SDK can reach (DOCKER_HOST) that can pull {DOCKER_IMAGE}, "
        "or use --localstack=embedded (no Docker needed, Linux only)",
    ),
    "embedded": Step(
        try_embedded,
        "in a checkout run `make venv` (creates .venv-localstack); elsewhere the pytest plugin provisions one "
        "(--localstack-python picks an existing one); the state dir's localstack*/ logs say more",
    ),
}
"""Every discovery step, by name."""

MODE_STEPS: dict[Mode, tuple[str, ...]] = {
    Mode.AUTO: ("external", "running", "docker", "embedded"),
    Mode.EXTERNAL: ("external", "running"),
    Mode.DOCKER: ("docker",),
    Mode.EMBEDDED: ("embedded",),
}
"""Which steps each ``--localstack`` mode tries, in order. A new mode is one row here (and one in STEPS)."""


def acquire(options: DiscoveryOptions, steps: Mapping[str, Step] = STEPS) -> LocalStackHandle:
    """The first LocalStack the steps for ``options.mode`` provide; raises with every reason otherwise."""
    tried: list[str] = []
    for name in MODE_STEPS[options.mode]:
        step = steps[name]
        result = step.provide(options)
        if isinstance(result, LocalStackHandle):
            log.info(
                "using %s LocalStack at %s%s", result.source, result.endpoint, " (started)" if result.owned else ""
            )
            return result
        log.info("LocalStack step %s: %s", name, result)
        tried.append(f"  - {name}: {result}\n    fix: {step.fix}")
    raise LocalStackUnavailableError(
        f"no LocalStack available for --localstack={options.mode.value}. Tried:\n" + "\n".join(tried)
    )
