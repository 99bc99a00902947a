"""Lambda runtime loop of the local-process executor: runs *inside* a function process.

Started by ``embedded_localstack.executor`` as ``<python3.x> -I -S -B -u bootstrap.py`` with the function's
code directory as working directory. Standard library only, because the function must see nothing but its own
code and the standard library (``-I -S``: no site-packages, no PYTHON* variables, no script dir on sys.path).

Protocol (LocalStack's executor endpoint, see docs/embedded-mode.md):
1. import the handler (AWS does this during init), then POST ``<runtime endpoint>/status/<id>/ready`` with
   ``{"port": N}`` (the port of our /invoke server) or ``/status/<id>/error`` with AWS's init error shape;
2. the executor POSTs ``/invoke`` ``{"invoke-id", "invoked-function-arn", "payload", "trace-id"}``;
3. we run the handler and POST ``/invocations/<invoke-id>/response`` (raw JSON) or ``/error``.

stdout/stderr go to a per-environment log file owned by the executor, which cuts the invocation's lines out of
it (so output written just before a timeout or a crash is not lost) and adds AWS's START/END/REPORT lines.
The function timeout is enforced by the executor (it kills this process group); the runtime only computes the
deadline for ``context.get_remaining_time_in_millis()``.
"""

from __future__ import annotations

import decimal
import http.client
import importlib
import json
import logging
import os
import queue
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from typing import Any

PARENT_POLL_INTERVAL_S = 0.5
GATEWAY_TIMEOUT_S = 30.0
MAX_LINE = 65536


class InitError(Exception):
    """Handler could not be loaded; carries AWS's error type (Runtime.ImportModuleError, ...)."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack_trace = stack_trace or []


class CognitoIdentity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


class LambdaContext:
    """The ``context`` argument, with the attributes of AWS's Python runtime (awslambdaric)."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_epoch_ms: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, exactly as in AWS's runtime (it reads the environment variable).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity()
        self.client_context = None
        self.tenant_id = None
        self._deadline_epoch_ms = deadline_epoch_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_epoch_ms - time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn}])"
        )


class RequestIdFilter(logging.Filter):
    """Puts the current request id on log records, like AWS's LambdaLoggerFilter."""

    def __init__(self) -> None:
        super().__init__()
        self.request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def install_lambda_logging() -> RequestIdFilter:
    """Root-logger handler with AWS's line format: ``[LEVEL]\\t<UTC time>\\t<request id>\\t<message>``."""
    request_filter = RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(request_filter)
    logging.getLogger().addHandler(handler)
    return request_filter


def load_handler(handler_name: str) -> Any:
    """Import ``module.function`` from the task root, raising AWS's init error types."""
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name or not function_name:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{handler_name}': not enough values to unpack")
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise InitError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from error
    except SyntaxError as error:
        raise InitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {error}",
            traceback.format_list(traceback.extract_tb(error.__traceback__)),
        ) from error
    except Exception as error:
        raise InitError(
            type(error).__name__, str(error), traceback.format_list(traceback.extract_tb(error.__traceback__))
        ) from error
    try:
        return getattr(module, function_name)
    except AttributeError as error:
        raise InitError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from error


def error_body(error_type: str, message: str, stack_trace: list[str], request_id: str = "") -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack_trace}
    ).encode()


def log_error(error_type: str, message: str, stack_trace: list[str]) -> None:
    """AWS writes uncaught errors to the function's log in this shape."""
    lines = [f"[ERROR] {error_type}: {message}", "Traceback (most recent call last):"]
    lines.extend(frame.rstrip("\n") for frame in stack_trace)
    sys.stderr.write("\n".join(lines) + "\n")


def encode_decimal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class GatewayClient:
    """Keeps one HTTP/1.1 connection to LocalStack's gateway open: no TCP handshake per invoke."""

    def __init__(self, runtime_endpoint: str) -> None:
        parsed = urllib.parse.urlsplit(runtime_endpoint)
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 80
        self._prefix = parsed.path.rstrip("/")
        self._connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> int:
        # One retry: the gateway may have closed the idle keep-alive connection in between.
        for attempt in range(2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=GATEWAY_TIMEOUT_S)
            try:
                self._connection.request(
                    "POST", self._prefix + path, body=body, headers={"Content-Type": "application/json"}
                )
                response = self._connection.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self._connection.close()
                self._connection = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


STATUS_LINES = {202: "202 Accepted", 400: "400 Bad Request", 404: "404 Not Found"}


def serve_invoke_connection(connection: socket.socket, invocations: queue.Queue[dict[str, Any]]) -> None:
    """Reads ``POST /invoke`` requests from one keep-alive connection and queues them for the main thread.

    A minimal HTTP/1.1 reader instead of http.server: importing http.server (email, html, mimetypes,
    socketserver) costs ~40 ms of every cold start, and the executor only ever sends this one request.
    """
    with connection, connection.makefile("rb") as reader:
        while True:
            request_line = reader.readline(MAX_LINE)
            if not request_line:
                return  # the executor closed the connection
            headers: dict[str, str] = {}
            while (line := reader.readline(MAX_LINE)) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = reader.read(int(headers.get("content-length") or 0))
            method, _, rest = request_line.decode("latin-1").partition(" ")
            status = 404
            if method == "POST" and rest.split(" ", 1)[0] == "/invoke":
                try:
                    invocations.put(json.loads(body))
                    status = 202
                except ValueError:
                    status = 400
            connection.sendall(f"HTTP/1.1 {STATUS_LINES[status]}\r\nContent-Length: 0\r\n\r\n".encode())


def start_invoke_server(invocations: queue.Queue[dict[str, Any]]) -> int:
    """Listens on loopback, ephemeral port (reported to the executor in the "ready" call); returns the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def accept_forever() -> None:
        while True:
            connection, _ = listener.accept()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(
                target=serve_invoke_connection, args=(connection, invocations), name="invoke-connection", daemon=True
            ).start()

    threading.Thread(target=accept_forever, name="invoke-server", daemon=True).start()
    return listener.getsockname()[1]


def exit_when_orphaned() -> None:
    """End this process if LocalStack dies without stopping us (crash, SIGKILL): nothing may outlive it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_INTERVAL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_invocation(
    handler: Any, invocation: dict[str, Any], gateway: GatewayClient, request_filter: RequestIdFilter
) -> None:
    request_id = invocation["invoke-id"]
    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
    context = LambdaContext(
        request_id, invocation.get("invoked-function-arn", ""), time.time() * 1000 + timeout_s * 1000
    )
    os.environ["_X_AMZN_TRACE_ID"] = invocation.get("trace-id") or ""
    request_filter.request_id = request_id
    try:
        payload = invocation.get("payload") or "{}"
        result = handler(json.loads(payload), context)
    except Exception as error:
        # Drop our own frame: AWS's stack trace starts in the user's code.
        tb = error.__traceback__.tb_next if error.__traceback__ else None
        stack = traceback.format_list(traceback.extract_tb(tb))
        log_error(type(error).__name__, str(error), stack)
        gateway.post(
            f"/invocations/{request_id}/error", error_body(type(error).__name__, str(error), stack, request_id)
        )
        return
    try:
        body = json.dumps(result, default=encode_decimal).encode()
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        log_error("Runtime.MarshalError", message, [])
        gateway.post(f"/invocations/{request_id}/error", error_body("Runtime.MarshalError", message, [], request_id))
        return
    gateway.post(f"/invocations/{request_id}/response", body)


def main() -> int:
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    runtime_dir = os.environ["LAMBDA_RUNTIME_DIR"]
    runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
    # -I -S left only the standard library on sys.path; the function's code comes first, as on AWS.
    sys.path[:0] = [task_root, runtime_dir]
    exit_when_orphaned()
    gateway = GatewayClient(os.environ["LOCALSTACK_RUNTIME_ENDPOINT"])
    request_filter = install_lambda_logging()

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitError as error:
        log_error(error.error_type, str(error), error.stack_trace)
        gateway.post(f"/status/{runtime_id}/error", error_body(error.error_type, str(error), error.stack_trace))
        return 1

    invocations: queue.Queue[dict[str, Any]] = queue.Queue()
    port = start_invoke_server(invocations)
    gateway.post(f"/status/{runtime_id}/ready", json.dumps({"port": port}).encode())
    while True:
        run_invocation(handler, invocations.get(), gateway, request_filter)


if __name__ == "__main__":
    sys.exit(main())
