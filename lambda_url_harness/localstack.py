"""Finding or starting LocalStack, in a fixed order, and stopping only what we started.

Order for ``auto`` (each step can be forced alone with ``mode``):

1. ``external``: ``LOCALSTACK_ENDPOINT`` (or ``AWS_ENDPOINT_URL``) is set and healthy;
2. ``running``: a LocalStack already answers at ``http://127.0.0.1:4566``;
3. ``docker``: the docker SDK reaches a daemon -> run the pinned image with the Docker socket
   mounted (its Lambda executor starts function containers through it);
4. ``embedded``: our Docker-free LocalStack (:mod:`embedded_localstack.launcher`).

A forced ``external`` accepts the environment variables or, without them, the default endpoint.
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests

from embedded_localstack import launcher
from lambda_url_harness.project import STATE_DIR

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
class LocalStackLease:
    """A LocalStack to use; ``stop()`` stops it only if we started it (``owned``)."""

    endpoint: str
    source: str
    """Which step provided it: external, running, docker or embedded."""
    owned: bool
    detail: str = ""
    """e.g. the docker container id or the embedded pid; recorded by ``deploy`` for ``destroy``."""
    scratch_dir: Path | None = None
    """A private state dir (data, log) of a LocalStack we started; see :meth:`discard_scratch`."""
    _stopper: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if not self.owned or self._stopper is None:
            return
        stopper, self._stopper = self._stopper, None  # idempotent: finalizers may run twice
        log.info("stopping the %s LocalStack at %s", self.source, self.endpoint)
        stopper()

    def discard_scratch(self) -> None:
        """Delete the private state dir (call after ``stop()``; keep it when its log is needed)."""
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)


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
    """None: the launcher's default for port 4566, else a throw-away dir under .state/."""
    keep_running: bool = False
    """``deploy`` leaves a docker container running after the process exits (``destroy`` removes it)."""
    startup_timeout_s: float = 120.0


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
    document = launcher.health(endpoint)
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
# Each step returns a lease, or a reason why it could not provide one.

StepResult = LocalStackLease | str


def try_external(options: DiscoveryOptions) -> StepResult:
    for name in ENDPOINT_ENV_VARS:
        endpoint = (options.env.get(name) or "").strip().rstrip("/")
        if endpoint:
            reason = check_endpoint(endpoint, options.required_services)
            if reason is None:
                return LocalStackLease(endpoint=endpoint, source="external", owned=False, detail=name)
            return f"{name}={endpoint}: {reason}"
    return f"neither {' nor '.join(ENDPOINT_ENV_VARS)} is set"


def try_running(options: DiscoveryOptions) -> StepResult:
    reason = check_endpoint(options.default_endpoint, options.required_services)
    if reason is None:
        return LocalStackLease(endpoint=options.default_endpoint, source="running", owned=False)
    return reason


def try_docker(options: DiscoveryOptions, client_factory: Callable[[], Any] | None = None) -> StepResult:
    """Run the pinned image; the container is removed on any failure and on ``stop()``."""
    try:
        import docker  # the SDK: only a client, it needs a reachable daemon
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - a dependency of the harness venv
        return f"the docker SDK is not importable ({exc})"
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
                "SERVICES": ",".join(options.required_services),
                # Function URLs carry this host:port, so they must name the published port.
                "LOCALSTACK_HOST": f"localhost.localstack.cloud:{port}",
            },
        )
    except DockerException as exc:
        return f"could not run {DOCKER_IMAGE} on 127.0.0.1:{port} ({exc})"

    def remove() -> None:
        try:
            container.remove(force=True)
        except DockerException as exc:
            log.warning("could not remove container %s: %s", container.id, exc)

    reason = wait_healthy(endpoint, options.required_services, options.startup_timeout_s)
    if reason is not None:
        logs = _container_logs(container)
        remove()
        return (
            f"container from {DOCKER_IMAGE} did not become healthy in {options.startup_timeout_s:.0f} s: {reason}{logs}"
        )
    return LocalStackLease(
        endpoint=endpoint,
        source="docker",
        owned=True,
        detail=str(container.id),
        _stopper=None if options.keep_running else remove,
    )


def _container_logs(container: Any) -> str:
    try:
        tail = container.logs(tail=30).decode(errors="replace").strip()
    except Exception:  # best effort for the error message only
        return ""
    return f"\n    last container log lines:\n{tail}" if tail else ""


def try_embedded(options: DiscoveryOptions) -> StepResult:
    port = options.start_port or free_port()
    throwaway_state: Path | None = None
    kwargs: dict[str, Any] = {
        "port": port,
        "startup_timeout_s": options.startup_timeout_s,
        "services": options.required_services,
    }
    if options.embedded_state_dir is not None:
        kwargs["state_dir"] = options.embedded_state_dir
    elif options.start_port is None:
        # A private state dir (PID file, data) so `make stop` never touches the test instance.
        throwaway_state = STATE_DIR / f"localstack-test-{port}"
        kwargs["state_dir"] = throwaway_state
    try:
        instance = launcher.start(launcher.EmbeddedSettings(**kwargs))
    except (launcher.EmbeddedLocalStackError, ValueError) as exc:
        return f"the embedded LocalStack failed to start: {exc}"

    return LocalStackLease(
        endpoint=instance.endpoint,
        source="embedded",
        owned=bool(instance.owned),
        detail=str(instance.pid or ""),
        scratch_dir=throwaway_state,
        _stopper=instance.stop,
    )


_STEPS: dict[str, Callable[[DiscoveryOptions], StepResult]] = {
    "external": try_external,
    "running": try_running,
    "docker": try_docker,
    "embedded": try_embedded,
}

_FIXES = {
    "external": "export LOCALSTACK_ENDPOINT=http://<host>:<port> pointing at a healthy LocalStack",
    "running": "start one with `make start` (embedded) or `localstack start` (Docker)",
    "docker": f"start a Docker daemon the docker SDK can reach (DOCKER_HOST) that can pull {DOCKER_IMAGE}, "
    "or use --localstack=embedded (no Docker needed)",
    "embedded": "run `make venv` to create .venv-localstack; see .state/localstack*/ logs",
}


def steps_for(mode: Mode) -> tuple[str, ...]:
    if mode is Mode.AUTO:
        return ("external", "running", "docker", "embedded")
    if mode is Mode.EXTERNAL:
        return ("external", "running")
    return (mode.value,)


def acquire(
    options: DiscoveryOptions, steps: Mapping[str, Callable[[DiscoveryOptions], StepResult]] = _STEPS
) -> LocalStackLease:
    """The first LocalStack the steps for ``options.mode`` provide; raises with every reason otherwise."""
    tried: list[str] = []
    for name in steps_for(options.mode):
        result = steps[name](options)
        if isinstance(result, LocalStackLease):
            log.info(
                "using %s LocalStack at %s%s", result.source, result.endpoint, " (started)" if result.owned else ""
            )
            return result
        log.info("LocalStack step %s: %s", name, result)
        tried.append(f"  - {name}: {result}\n    fix: {_FIXES[name]}")
    raise LocalStackUnavailableError(
        f"no LocalStack available for --localstack={options.mode.value}. Tried:\n" + "\n".join(tried)
    )
