"""The one health rule (embedded launcher and harness discovery alike), against a real loopback server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from embedded_localstack.control.health import (
    DEFAULT_SERVICES,
    UNUSABLE_STATES,
    check_endpoint,
    parse_services,
    unusable_services,
    wait_healthy,
)
from embedded_localstack.control.ports import free_port, port_is_free


@pytest.fixture
def health_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """Answers /_localstack/health with the document the test puts in the yielded dict."""
    document: dict[str, Any] = {"services": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", document
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("state", sorted(UNUSABLE_STATES))
def test_a_service_in_an_unusable_state_is_not_served(state: str) -> None:
    document = {"services": {"lambda": state, "iam": "running", "logs": "available", "sts": "starting"}}
    assert unusable_services(document, DEFAULT_SERVICES) == ["lambda"]


def test_an_absent_service_is_not_served() -> None:
    assert unusable_services({"services": {"iam": "running"}}, ("iam", "s3")) == ["s3"]


def test_the_endpoint_check_names_what_is_missing(health_server: tuple[str, dict[str, Any]]) -> None:
    endpoint, document = health_server
    document["services"] = dict.fromkeys(DEFAULT_SERVICES, "running") | {"logs": "stopping"}
    assert check_endpoint(endpoint, DEFAULT_SERVICES) == (
        f"LocalStack at {endpoint} lacks services logs (set SERVICES to include them)"
    )
    document["services"]["logs"] = "available"
    assert check_endpoint(endpoint, DEFAULT_SERVICES) is None


def test_waiting_stops_at_once_when_the_process_is_gone() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    reason = wait_healthy(endpoint, DEFAULT_SERVICES, timeout_s=30, interval_s=0.1, gone=lambda: True)
    assert reason == f"the process ended: nothing listens at {endpoint}"
    assert time.monotonic() - started < 10


def test_defaults_come_first_and_each_service_once() -> None:
    assert parse_services("S3, lambda,,sqs") == (*DEFAULT_SERVICES, "s3", "sqs")


def test_a_free_port_is_free() -> None:
    port = free_port()
    assert port_is_free("127.0.0.1", port)
