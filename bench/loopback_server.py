"""The loopback floor: a trivial HTTP/1.1 keep-alive server on 127.0.0.1 answering like the function does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = json.dumps({"result": 36}).encode()


class _SquareLikeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the gateway does
    # Without TCP_NODELAY the body, written after the headers, waits for the client's delayed ACK (~40 ms):
    # that would measure Nagle's algorithm, not the loopback.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        # Headers and body in one segment: the body joins http.server's private header buffer (not in typeshed).
        self._headers_buffer.append(b"\r\n" + ANSWER)  # type: ignore[attr-defined]
        self.flush_headers()

    def log_message(self, format: str, *args: object) -> None:
        return  # per-request stderr lines would be measured too


@contextmanager
def loopback_server() -> Iterator[str]:
    """Serves on an ephemeral loopback port; yields its base URL and shuts down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SquareLikeHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="loopback-floor", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
