"""Finding or starting a LocalStack, in a fixed order (what is found is a
:class:`~lambda_url_harness.localstack_handle.LocalStackHandle`, which stops only what we started).

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
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from embedded_localstack.control import lifecycle, processes, provision
from embedded_localstack.control.health import DEFAULT_SERVICES, check_endpoint, wait_healthy
from embedded_localstack.control.ports import free_port
from embedded_localstack.errors import EmbeddedLocalStackError
from embedded_localstack.paths import StatePaths
from lambda_url_harness.errors import LocalStackUnavailableError
from lambda_url_harness.localstack_handle import DEFAULT_ENDPOINT, LocalStackHandle

log = logging.getLogger(__name__)

ENDPOINT_ENV_VARS = ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
REQUIRED_SERVICES = tuple(sorted(DEFAULT_SERVICES))
"""What a found LocalStack must serve: the default services, in name order (as messages and the Docker container's
``SERVICES`` list them)."""
DOCKER_IMAGE = "localstack/localstack:4.9.2"
"""Pinned to the version the embedded mode runs, so both modes behave the same."""
DOCKER_LABEL = "lambda-url-harness"


class Mode(StrEnum):
    AUTO = "auto"
    EXTERNAL = "external"
    DOCKER = "docker"
    EMBEDDED = "embedded"


@dataclass(frozen=True)
class DiscoveryOptions:
    mode: Mode = Mode.AUTO
    env: Mapping[str, str] = field(default_factory=dict)
    default_endpoint: str = DEFAULT_ENDPOINT
    required_services: tuple[str, ...] = REQUIRED_SERVICES
    start_port: int | None = 4566
    """Port for a LocalStack we start (docker/embedded); None picks a free one (tests, so a
    user's ``make start`` on 4566 and parallel workers never clash)."""
    paths: StatePaths = field(default_factory=StatePaths.current)
    """The state root: a LocalStack we start keeps its data, log and PID file under it."""
    embedded_state_dir: Path | None = None
    """Where an embedded LocalStack we start keeps them; None: ``paths.localstack`` on a fixed ``start_port``, else a
    throw-away dir (``paths.scratch_localstack``)."""
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
    if options.embedded_state_dir is not None:
        state_dir = options.embedded_state_dir
    elif scratch:
        # A private state dir (PID file, data) so `make stop` never touches the test instance.
        state_dir = options.paths.scratch_localstack(port)
    else:
        state_dir = options.paths.localstack
    try:
        settings = lifecycle.EmbeddedSettings(
            port=port,
            state_dir=state_dir,
            python=provision.localstack_python(options.embedded_python, progress=options.progress),
            services=options.services_to_start(),
            startup_timeout_s=options.startup_timeout_s,
        )
        instance = lifecycle.start(settings)
    except (EmbeddedLocalStackError, ValueError) as exc:
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
