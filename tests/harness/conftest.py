"""A real loopback HTTP server for unit tests of discovery and URL routing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class FakeLocalStack:
    """Answers /_localstack/health with ``health`` and echoes every other request as JSON."""

    health: dict[str, Any] | None = field(
        default_factory=lambda: {"services": dict.fromkeys(("iam", "lambda", "logs", "sts"), "available")}
    )
    requests: list[dict[str, Any]] = field(default_factory=list)
    endpoint: str = ""


@pytest.fixture
def fake_localstack() -> Iterator[FakeLocalStack]:
    state = FakeLocalStack()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            seen = {"method": self.command, "path": self.path, "host": self.headers.get("Host"), "body": body}
            state.requests.append(seen)
            if self.path == "/_localstack/health":
                status, document = (200, state.health) if state.health is not None else (503, {"down": True})
            else:
                status, document = 200, seen
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval: shutdown() waits for the next poll (0.5 s by default, per test).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
