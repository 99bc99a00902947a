"""AWS's Lambda Runtime API (version ``2018-06-01``) for one execution environment, served on a listening socket.

The contract between an environment and its runtime on AWS (``AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001``): AWS's
runtime interface clients, custom ``bootstrap`` executables (AWS's shell tutorial with curl, Go's and Rust's
runtimes) and our Node.js loop (``runtime/nodejs/bootstrap.mjs``) speak it unchanged.

* ``GET /2018-06-01/runtime/invocation/next``: the first one ends the init; it is answered when an invocation
  arrives, with the event as body and the ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``,
  ``-Invoked-Function-Arn``, ``-Trace-Id``, ``-Client-Context``, ``-Cognito-Identity`` headers (empty ones left out).
* ``POST .../runtime/invocation/{id}/response`` and ``.../error`` (``Lambda-Runtime-Function-Error-Type``): 202
  ``{"status": "OK"}``; the answer goes to the invocation with that id only.
* ``POST .../runtime/init/error``: 202 while the init runs; the next invoke answers with it.

Errors are those of AWS's init (LocalStack's ``lambda-runtime-init`` is AWS's runtime interface emulator, whose
status codes and bodies AWS documents in the API's OpenAPI file): a response for another request than the one
being run: 400 ``InvalidRequestID`` "Invalid request ID"; a second answer before the runtime asked for the next
event, an answer before any invocation, an init error after the init, or a ``next`` after an init error: 403
``InvalidStateTransition`` ("State transition from <state> to <state> failed for runtime. Error: State transition
is not allowed"); a response over 6291556 bytes: 413 ``RequestEntityTooLarge`` "Exceeded maximum allowed payload
size (6291556 bytes).", and the invocation gets ``Function.ResponseSizeTooLarge`` (its body is read and dropped);
an error type not of the form ``Runtime.X``/``Function.X`` becomes ``Runtime.Unknown``; unknown paths 404,
other methods 405. Bodies are passed on as they are (AWS does not parse a response).

Every connection has its own thread (a runtime keeps one alive; curl opens one per request); HTTP/1.1 with
``Content-Length`` or chunked bodies. Standard library only: the executor inside LocalStack imports it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

from embedded_localstack.service.limits import MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE_MESSAGE

LOG = logging.getLogger(__name__)

VERSION_PREFIX = "/2018-06-01"
SANDBOX_ADDRESS = ("127.0.0.1", 9001)
"""Where a sandboxed runtime finds the API, as on AWS (``AWS_LAMBDA_RUNTIME_API``)."""
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
VALID_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")
MAX_HEADER_BYTES = 64 * 1024
MAX_ERROR_BODY_BYTES = MAX_RESPONSE_BYTES

# The runtime's states, named as AWS's init names them in its errors.
STARTED, RUNNING, RESPONSE_SENT, INIT_ERROR = "Started", "Running", "RuntimeResponseSentState", "InitError"
NOT_ALLOWED = "State transition is not allowed"
TRANSITION = {
    "response": "InvocationResponse",
    "error": "InvocationErrorResponse",
    "init": "InitError",
    "next": "Ready",
}


@dataclass(frozen=True)
class Invocation:
    """One event for the runtime (headers as the Runtime API names them)."""

    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str = ""
    client_context: str = ""
    cognito_identity: str = ""

    def headers(self) -> dict[str, str]:
        found = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.invoked_function_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
            "Lambda-Runtime-Client-Context": self.client_context,
            "Lambda-Runtime-Cognito-Identity": self.cognito_identity,
        }
        return {name: value for name, value in found.items() if value}


@dataclass(frozen=True)
class Answer:
    """What the runtime answered: a response, or an error with its type (``is_error``)."""

    body: bytes
    is_error: bool = False
    error_type: str = ""


def valid_error_type(value: str | None) -> str:
    """AWS's init keeps ``Runtime.X``/``Function.X`` error types and calls any other one ``Runtime.Unknown``."""
    if value and VALID_ERROR_TYPE.search(value):
        return value
    return "Function.Unknown" if (value or "").startswith("Function.") else "Runtime.Unknown"


def too_large_answer() -> Answer:
    body = json.dumps({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": RESPONSE_TOO_LARGE_MESSAGE})
    return Answer(body.encode(), True, "Function.ResponseSizeTooLarge")


class HttpError(Exception):
    """A request this server cannot read (bad framing): answered 400 and the connection closed."""


class RuntimeApi:
    """The Runtime API of one environment. ``listener`` is a bound, listening socket (inside the environment's
    network namespace, or on host loopback without the sandbox); this object owns it from now on."""

    def __init__(self, listener: socket.socket, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self._listener = listener
        self._max_response = max_response_bytes
        self._lock = threading.Condition()
        self._state = STARTED
        self._pending: Invocation | None = None  # sent by the executor, not yet taken by a `next`
        self._current: Invocation | None = None  # taken by the runtime, not yet answered
        self._answers: dict[str, Answer] = {}
        self._init_error: Answer | None = None
        self._closed = False
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return host, port

    # -- the executor's side ---------------------------------------------------------------------------------
    def wait_for_init(self, timeout_s: float) -> Answer | bool | None:
        """After the process started: True once the runtime asked for its first event (init done), its init error
        (an Answer), or None if neither happened within ``timeout_s`` (poll again, or check the process)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._state == STARTED and not self._closed:
                if not self._lock.wait(max(deadline - time.monotonic(), 0)) and time.monotonic() >= deadline:
                    return None
            if self._init_error is not None:
                return self._init_error
            return True if self._state != STARTED else None

    def send(self, invocation: Invocation) -> None:
        """Hand the runtime its next event (answered by a pending or the next ``next``)."""
        with self._lock:
            if self._pending is not None or self._current is not None:
                raise RuntimeError("the environment is running another invocation")
            self._answers.pop(invocation.request_id, None)
            self._pending = invocation
            self._lock.notify_all()

    def answer(self, request_id: str, timeout_s: float) -> Answer | None:
        """The runtime's answer for ``request_id``, or None if it has none within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while request_id not in self._answers and not self._closed:
                if not self._lock.wait(max(deadline - time.monotonic(), 0)) and time.monotonic() >= deadline:
                    return None
            return self._answers.pop(request_id, None)

    def abandon(self, request_id: str) -> None:
        """The executor gave up on ``request_id`` (timeout: the environment is ended): a late answer is refused."""
        with self._lock:
            if self._pending is not None and self._pending.request_id == request_id:
                self._pending = None
            if self._current is not None and self._current.request_id == request_id:
                self._current = None
            self._answers.pop(request_id, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, set()
            self._lock.notify_all()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    # -- the runtime's side ----------------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    connection.close()
                    return
                self._connections.add(connection)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(connection,), name="runtime-api-conn", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        try:
            while not self._closed:
                request = read_request(reader, self._max_response)
                if request is None:
                    return
                method, path, headers, body, overflow = request
                status, response_headers, payload = self._route(method, path, headers, body, overflow)
                write_response(connection, status, response_headers, payload)
                if headers.get("connection", "").lower() == "close":
                    return
        except HttpError as error:
            with contextlib.suppress(OSError):
                write_response(connection, 400, {"Content-Type": "text/plain"}, f"{error}\n".encode())
        except OSError:
            pass  # the runtime went away
        finally:
            with self._lock:
                self._connections.discard(connection)
            reader.close()
            connection.close()

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes, overflow: bool
    ) -> tuple[int, dict[str, str], bytes]:
        if not path.startswith(VERSION_PREFIX + "/runtime/"):
            return not_found()
        route = path[len(VERSION_PREFIX) :].split("?", 1)[0]
        if route == "/runtime/invocation/next":
            return self._next() if method == "GET" else method_not_allowed()
        if route == "/runtime/init/error":
            return self._init_failed(headers, body) if method == "POST" else method_not_allowed()
        parts = route.split("/")  # ["", "runtime", "invocation", id, "response"|"error"]
        if len(parts) == 5 and parts[2] == "invocation" and parts[4] in ("response", "error") and parts[3]:
            if method != "POST":
                return method_not_allowed()
            if parts[4] == "response":
                answer = too_large_answer() if overflow else Answer(body)
                return self._answer(parts[3], answer, "response", too_large=overflow)
            return self._answer(parts[3], Answer(body, True, valid_error_type(headers.get(ERROR_TYPE_HEADER))), "error")
        return not_found()

    def _next(self) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._state == INIT_ERROR:
                return invalid_transition(self._state, "next")
            self._state = RUNNING
            self._lock.notify_all()  # the init is done
            while self._pending is None and not self._closed:
                self._lock.wait()
            if self._closed or self._pending is None:
                raise OSError("closed")
            invocation, self._pending = self._pending, None
            self._current = invocation
        return 200, {"Content-Type": "application/json", **invocation.headers()}, invocation.payload

    def _answer(
        self, request_id: str, answer: Answer, kind: str, too_large: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._state != RUNNING:
                return invalid_transition(self._state, kind)
            if self._current is None or self._current.request_id != request_id:
                return json_response(400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
            self._answers[request_id] = answer
            self._current = None
            self._state = RESPONSE_SENT
            self._lock.notify_all()
        if too_large:
            message = f"Exceeded maximum allowed payload size ({self._max_response} bytes)."
            return json_response(413, {"errorMessage": message, "errorType": "RequestEntityTooLarge"})
        return json_response(202, {"status": "OK"})

    def _init_failed(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            if self._state != STARTED:
                return invalid_transition(self._state, "init")
            self._init_error = Answer(body, True, valid_error_type(headers.get(ERROR_TYPE_HEADER)))
            self._state = INIT_ERROR
            self._lock.notify_all()
        return json_response(202, {"status": "OK"})


# -- HTTP/1.1, as much as the Runtime API needs ------------------------------------------------------------------
def read_request(reader: BinaryIO, max_body: int) -> tuple[str, str, dict[str, str], bytes, bool] | None:
    """(method, path, lower-cased headers, body, body over ``max_body``) of the next request; None at end of file.
    A body over ``max_body`` is read and dropped (the answer says so; the connection stays usable)."""
    line = reader.readline(MAX_HEADER_BYTES)
    while line in (b"\r\n", b"\n"):  # tolerated between requests
        line = reader.readline(MAX_HEADER_BYTES)
    if not line:
        return None
    try:
        method, path, _version = line.decode("latin-1").split()
    except ValueError as error:
        raise HttpError(f"bad request line {line[:100]!r}") from error
    headers: dict[str, str] = {}
    size = len(line)
    while True:
        line = reader.readline(MAX_HEADER_BYTES)
        size += len(line)
        if not line or size > MAX_HEADER_BYTES:
            raise HttpError("headers too long or cut off")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, overflow = read_chunked(reader, max_body)
    else:
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError as error:
            raise HttpError("bad Content-Length") from error
        body, overflow = read_exactly(reader, length, keep=length <= max_body), length > max_body
    return method, path, headers, body, overflow


def read_exactly(reader: BinaryIO, size: int, keep: bool = True) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = reader.read(min(remaining, 1 << 20))
        if not chunk:
            raise OSError("connection closed inside a body")
        if keep:
            chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_chunked(reader: BinaryIO, max_body: int) -> tuple[bytes, bool]:
    chunks, total = [], 0
    while True:
        size_line = reader.readline(MAX_HEADER_BYTES)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as error:
            raise HttpError(f"bad chunk size {size_line[:40]!r}") from error
        if size == 0:
            while reader.readline(MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return (b"" if total > max_body else b"".join(chunks)), total > max_body
        total += size
        data = read_exactly(reader, size, keep=total <= max_body)
        if total <= max_body:
            chunks.append(data)
        reader.readline(MAX_HEADER_BYTES)  # the chunk's CRLF


REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Request Entity Too Large", 500: "Internal Server Error"}  # fmt: skip


def write_response(connection: socket.socket, status: int, headers: dict[str, str], body: bytes) -> None:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    connection.sendall(head + body if len(body) < 65536 else head)
    if len(body) >= 65536:
        connection.sendall(body)


def json_response(status: int, document: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def invalid_transition(state: str, kind: str) -> tuple[int, dict[str, str], bytes]:
    message = f"State transition from {state} to {TRANSITION[kind]} failed for runtime. Error: {NOT_ALLOWED}"
    return json_response(403, {"errorMessage": message, "errorType": "InvalidStateTransition"})


def not_found() -> tuple[int, dict[str, str], bytes]:
    return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"


def method_not_allowed() -> tuple[int, dict[str, str], bytes]:
    return 405, {}, b""


def loopback_listener(port: int = 0) -> socket.socket:
    """A listening socket on host loopback (no sandbox: each environment gets its own free port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    return listener
