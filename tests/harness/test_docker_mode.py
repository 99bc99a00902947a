"""The docker step with a stand-in SDK client (no daemon can run here): what it asks Docker for,
and that the container is removed on failure and on stop. Health checks hit a real loopback server."""

from __future__ import annotations

from typing import Any

from docker.errors import DockerException

from lambda_url_harness.discovery import DOCKER_IMAGE, DiscoveryOptions, try_docker
from lambda_url_harness.localstack_handle import LocalStackHandle


class FakeContainer:
    id = "c0ffee"

    def __init__(self) -> None:
        self.removed: list[bool] = []

    def remove(self, force: bool = False) -> None:
        self.removed.append(force)

    def logs(self, tail: int = 0) -> bytes:
        return b"Ready? not yet"


class FakeClient:
    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable
        self.container = FakeContainer()
        self.run_calls: list[tuple[str, dict[str, Any]]] = []
        self.containers = self

    def ping(self) -> bool:
        if not self.reachable:
            raise DockerException("Error while fetching server API version")
        return True

    def get(self, container_id: str) -> FakeContainer:
        assert container_id == self.container.id
        return self.container

    def run(self, image: str, **kwargs: Any) -> FakeContainer:
        self.run_calls.append((image, kwargs))
        return self.container


def test_unreachable_daemon_is_reported() -> None:
    result = try_docker(DiscoveryOptions(), client_factory=lambda: FakeClient(reachable=False))
    assert result == "no Docker daemon reachable through the docker SDK (Error while fetching server API version)"


def test_container_that_never_gets_healthy_is_removed(fake_localstack) -> None:
    fake_localstack.health = None
    port = int(fake_localstack.endpoint.rsplit(":", 1)[1])
    client = FakeClient()
    result = try_docker(DiscoveryOptions(start_port=port, startup_timeout_s=1), client_factory=lambda: client)
    assert isinstance(result, str)
    assert "did not become healthy in 1 s" in result
    assert "Ready? not yet" in result
    assert client.container.removed == [True]


def test_healthy_container_is_pinned_loopback_only_and_removed_on_stop(fake_localstack) -> None:
    port = int(fake_localstack.endpoint.rsplit(":", 1)[1])
    client = FakeClient()
    lease = try_docker(DiscoveryOptions(start_port=port), client_factory=lambda: client)
    assert isinstance(lease, LocalStackHandle)
    assert (lease.endpoint, lease.source, lease.owned, lease.container_id) == (
        fake_localstack.endpoint,
        "docker",
        True,
        "c0ffee",
    )
    image, kwargs = client.run_calls[0]
    assert image == DOCKER_IMAGE
    assert kwargs["ports"] == {"4566/tcp": ("127.0.0.1", port)}
    assert kwargs["volumes"]["/var/run/docker.sock"]["bind"] == "/var/run/docker.sock"
    assert kwargs["environment"]["SERVICES"] == "iam,lambda,logs,sts"
    assert kwargs["environment"]["LOCALSTACK_HOST"] == f"localhost.localstack.cloud:{port}"
    assert client.container.removed == []
    assert lease.stop(docker_client=lambda: client) is True
    assert client.container.removed == [True]
    assert lease.stop(docker_client=lambda: client) is False  # idempotent
    assert client.container.removed == [True]
