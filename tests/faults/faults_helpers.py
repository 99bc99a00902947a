"""Helpers for the fault tests: private LocalStacks, boto3 clients, squatters on a port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError
from support import build_zip

from embedded_localstack.control.lifecycle import EmbeddedLocalStack, EmbeddedSettings, start, stop
from embedded_localstack.control.ports import free_port
from lambda_url_harness.aws import DEFAULT_REGION, localstack_session

FAST_CLIENT = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60)


def start_private_localstack(state_dir: Path, port: int | None = None) -> EmbeddedLocalStack:
    """An embedded LocalStack of the test's own (free port, own state dir): never the session's."""
    instance = start(EmbeddedSettings(port=port or free_port(), state_dir=state_dir))
    assert instance.owned, f"expected to start a LocalStack of our own at {instance.endpoint}"
    return instance


def stop_quietly(settings: EmbeddedSettings) -> None:
    """Teardown: stop whatever the PID file still names (a no-op after a crash the test caused)."""
    stop(settings)


def stop_localstacks_under(directory: Path) -> None:
    """Teardown: stop every embedded LocalStack whose PID file lies in a direct subdirectory of ``directory``."""
    for pid_file in directory.glob("*/localstack.pid"):
        try:
            endpoint = json.loads(pid_file.read_text())["endpoint"]
        except (OSError, ValueError, KeyError):
            continue
        stop(EmbeddedSettings(port=int(endpoint.rsplit(":", 1)[1]), state_dir=pid_file.parent))


def client(service: str, endpoint: str) -> Any:
    return localstack_session(DEFAULT_REGION).client(service, endpoint_url=endpoint, config=FAST_CLIENT)


def role_exists(endpoint: str, role_name: str) -> bool:
    try:
        client("iam", endpoint).get_role(RoleName=role_name)
    except ClientError:
        return False
    return True


def sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def start_warm_function(endpoint: str, name: str) -> None:
    """Create and invoke a tiny function, so the LocalStack has a live function process (kept warm)."""
    lambda_client = client("lambda", endpoint)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="index.handler",
        Role="arn:aws:iam::000000000000:role/fault-test",
        Code={"ZipFile": build_zip({"index.py": "def handler(event, context):\n    return {'ok': True}\n"})},
        Timeout=30,
    )
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120}
    )
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()


class Squatter:
    """Something that is not LocalStack holding a loopback port: a silent TCP server or an HTTP 404 server."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._stop = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._listener: socket.socket | None = None
        self._accepted: list[socket.socket] = []
        if kind == "http-404":
            self._http = ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundHandler)
            self.port = int(self._http.server_address[1])
            self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        elif kind == "silent-tcp":
            self._listener = socket.create_server(("127.0.0.1", 0))
            self._listener.settimeout(0.2)
            self.port = int(self._listener.getsockname()[1])
            self._thread = threading.Thread(target=self._accept_and_say_nothing, daemon=True)
        else:
            raise ValueError(f"unknown squatter kind {kind!r}")
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_and_say_nothing(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._listener is not None:
            self._listener.close()
        for connection in self._accepted:
            connection.close()
        self._thread.join(timeout=5)


class _NotFoundHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"message": "not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass
