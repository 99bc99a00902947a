"""Lambda runtime loop of the local-process executor: runs *inside* a function process.

Started by ``embedded_localstack.service.executor`` as ``<python3.x> -I -S -B -u bootstrap.py <fd> <packages dir or
"">`` with the function's code directory as working directory. Standard library only, because the function must see
nothing but its own code, the runtime's packages (boto3 and its dependencies, as every AWS Python runtime ships
them; the second argument, empty when there are none) and the standard library (``-I -S``: no site-packages, no
PYTHON* variables, no script dir on sys.path). ``sys.path`` is built in AWS's order, so a function's own bundled
boto3 wins over the runtime's.

The executor and this loop talk over one end of a socket pair (file descriptor ``<fd>``, inherited at start and
kept from the handler's child processes); each message is a frame (:func:`encode_frame`, the one definition of the
format): ``<kind: 1 byte><id length: 1 byte><body length: 4 bytes><id><body>``. The id is the request id of the
invoke the frame belongs to (empty for frames of the environment itself), as AWS's Runtime API carries it in
``Lambda-Runtime-Aws-Request-Id`` and in the ``/runtime/invocation/<id>/...`` paths:
1. we import the handler (AWS does this during init), then send ``R`` (ready) or ``E`` with AWS's init error;
2. the executor sends ``I`` with the invoke's id and ``{"invoke-id", "invoked-function-arn", "payload",
   "trace-id"}``;
3. we run the handler and answer ``S`` (the raw JSON result) or ``F`` (AWS's error shape) with the same id; the
   executor ends an environment whose answer carries another id, or that answers when no invoke waits.
End of file on the socket means the executor is gone or stops the environment: we exit.

(This replaces LocalStack's HTTP protocol, an ``/invoke`` server here plus callbacks through LocalStack's
gateway: every warm invoke paid a full gateway request for the callback. See docs/benchmarks.md.)

stdout/stderr go to a per-environment pipe the executor pumps into a log file (bounded), from which it takes the
invocation's lines (so output written just before a timeout or a crash is not lost) and adds AWS's
START/END/REPORT lines.
The function timeout is enforced by the executor (it kills this process group); the runtime only computes the
deadline for ``context.get_remaining_time_in_millis()``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback

# typing costs every cold start ~2 ms and is only needed by type checkers (annotations are not evaluated).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PARENT_POLL_INTERVAL_S = 0.5
FRAME_HEADER_BYTES = 6
"""``<kind: 1 byte><id length: 1 byte><body length: 4 bytes, big-endian>``; the id (UTF-8) and the body follow."""
MAX_ID_BYTES = 255
READY, INIT_ERROR, INVOKE, RESULT, FUNCTION_ERROR = b"R", b"E", b"I", b"S", b"F"
CONFIGURE = b"C"
SPARE_MARKER = "EMBEDDED_LAMBDA_SPARE"
CHANNEL_FD_VARIABLE = "_EMBEDDED_LAMBDA_CHANNEL_FD"
PACKAGES_VARIABLE = "_EMBEDDED_LAMBDA_PACKAGES"
"""Under an exec wrapper the command line is AWS's (it ends in this script), so the channel's descriptor and the
packages dir come in these variables; they are removed before the function's code runs."""
LAYER_DIRS = ("/opt/python/lib/python{major}.{minor}/site-packages", "/opt/python")
"""Where AWS's Python runtimes look for layer code, after the function's own directory."""
REQUEST_ID_IN_ERRORS_SINCE = (3, 9)
"""AWS's python3.8 runtime answered errors without ``requestId``; the runtimes from 3.9 on include it."""


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
    """Root-logger handler with AWS's line format: ``[LEVEL]\\t<UTC time>\\t<request id>\\t<message>``.

    One line per record: the handler's own terminator ends it (AWS's format string ends in a newline because its
    log sink frames each record; on a plain stream that would add an empty line after every record)."""
    request_filter = RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
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
            user_stack(error.__traceback__),
        ) from error
    except Exception as error:
        raise InitError(type(error).__name__, str(error), user_stack(error.__traceback__)) from error
    try:
        return getattr(module, function_name)
    except AttributeError as error:
        raise InitError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from error


def error_body(error_type: str, message: str, stack_trace: list[str], request_id: str = "") -> bytes:
    """AWS's error payload; ``requestId`` is empty for init errors (there is no request yet)."""
    body: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if sys.version_info[:2] >= REQUEST_ID_IN_ERRORS_SINCE:
        body["requestId"] = request_id
    body["stackTrace"] = stack_trace
    return json.dumps(body).encode()


def user_stack(tb: Any) -> list[str]:
    """The formatted frames of ``tb`` from the first one that is not this file's: AWS's traces start in user
    code (or in the standard library's importlib, for errors raised while the handler module is imported)."""
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == __file__:  # the name this script's code objects carry
        frames.pop(0)
    return traceback.format_list(frames)


def log_error(error_type: str, message: str, stack_trace: list[str]) -> None:
    """AWS writes uncaught errors to the function's log in this shape."""
    lines = [f"[ERROR] {error_type}: {message}", "Traceback (most recent call last):"]
    lines.extend(frame.rstrip("\n") for frame in stack_trace)
    sys.stderr.write("\n".join(lines) + "\n")


def encode_decimal(value: Any) -> Any:
    # A Decimal can only exist if its module was imported; importing decimal here would cost every cold start.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_frame(kind: bytes, request_id: str, body: bytes) -> bytes:
    """One frame of the protocol (the module's docstring); ``request_id`` is "" for the environment's own frames."""
    encoded_id = request_id.encode()
    if len(kind) != 1 or len(encoded_id) > MAX_ID_BYTES:
        raise ValueError(f"not a frame: kind {kind!r}, id of {len(encoded_id)} bytes")
    return kind + bytes([len(encoded_id)]) + len(body).to_bytes(4, "big") + encoded_id + body


def frame_sizes(header: bytes) -> tuple[bytes, int, int]:
    """(kind, id length, body length) of a frame's ``FRAME_HEADER_BYTES`` header."""
    return header[:1], header[1], int.from_bytes(header[2:FRAME_HEADER_BYTES], "big")


class ExecutorChannel:
    """Our end of the socket pair shared with the executor: length-prefixed frames, one invoke at a time."""

    def __init__(self, fd: int) -> None:
        os.set_inheritable(fd, False)  # a process the handler starts must not hold the executor's channel open
        self._socket = socket.socket(fileno=fd)
        self._reader = self._socket.makefile("rb")

    def receive_configuration(self) -> tuple[dict[str, Any], int] | None:
        """Spare only: the ``C`` frame (JSON) and the output pipe's descriptor sent with it; None at end of file.

        Read from the raw socket (the descriptor arrives as ancillary data), before the buffered reader is used.
        """
        data, fds, _, _ = socket.recv_fds(self._socket, 1 << 16, 1)

        def expected() -> int:
            if len(data) < FRAME_HEADER_BYTES:
                return -1
            _, id_length, body_length = frame_sizes(data[:FRAME_HEADER_BYTES])
            return FRAME_HEADER_BYTES + id_length + body_length

        while data and (expected() < 0 or len(data) < expected()):
            chunk = self._socket.recv(1 << 16)
            if not chunk:
                return None
            data += chunk
        if len(data) < FRAME_HEADER_BYTES or data[:1] != CONFIGURE or len(fds) != 1:
            return None
        return json.loads(data[FRAME_HEADER_BYTES + data[1] :]), fds[0]

    def send(self, kind: bytes, request_id: str, body: bytes) -> None:
        self._socket.sendall(encode_frame(kind, request_id, body))

    def receive(self) -> tuple[bytes, str, bytes] | None:
        """The next frame as (kind, request id, body), or None when the executor closed its end."""
        header = self._reader.read(FRAME_HEADER_BYTES)
        if len(header) < FRAME_HEADER_BYTES:
            return None
        kind, id_length, body_length = frame_sizes(header)
        request_id = self._reader.read(id_length)
        body = self._reader.read(body_length)
        if len(request_id) != id_length or len(body) != body_length:
            return None
        return kind, request_id.decode(), body


def exit_when_orphaned() -> None:
    """End this process if LocalStack dies without stopping us (crash, SIGKILL): nothing may outlive it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_INTERVAL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_invocation(
    handler: Any, request_id: str, invocation: dict[str, Any], request_filter: RequestIdFilter
) -> tuple[bytes, bytes]:
    """Runs the handler once; returns the frame to answer with: ``(RESULT, json)`` or ``(FUNCTION_ERROR, error)``."""
    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
    context = LambdaContext(
        request_id, invocation.get("invoked-function-arn", ""), time.time() * 1000 + timeout_s * 1000
    )
    os.environ["_X_AMZN_TRACE_ID"] = invocation.get("trace-id") or ""
    request_filter.request_id = request_id
    try:
        # Parsed before the handler runs: a payload that is not JSON never reaches user code.
        event = json.loads(invocation.get("payload") or "{}")
    except ValueError as error:
        message = f"Unable to unmarshal input: {error}"
        log_error("Runtime.UnmarshalError", message, [])
        return FUNCTION_ERROR, error_body("Runtime.UnmarshalError", message, [], request_id)
    try:
        result = handler(event, context)
    except Exception as error:
        stack = user_stack(error.__traceback__)  # AWS's stack trace starts in the user's code
        log_error(type(error).__name__, str(error), stack)
        return FUNCTION_ERROR, error_body(type(error).__name__, str(error), stack, request_id)
    try:
        body = json.dumps(result, default=encode_decimal).encode()
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        log_error("Runtime.MarshalError", message, [])
        return FUNCTION_ERROR, error_body("Runtime.MarshalError", message, [], request_id)
    return RESULT, body


def become_environment(configuration: dict[str, Any], output_fd: int) -> None:
    """Spare only: turn into the process the executor would have spawned for this environment."""
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    environ = dict(configuration["environ"])
    # The interpreter's locale coercion added LC_CTYPE at start-up (the spare is started without it, and only
    # for functions whose LANG/LC_* equal the spare's): a freshly spawned process would have it too.
    if "LC_CTYPE" in os.environ and "LC_CTYPE" not in environ:
        environ["LC_CTYPE"] = os.environ["LC_CTYPE"]
    os.environ.clear()  # wholesale: unsetenv for every variable of the spare, putenv for the function's
    os.environ.update(environ)
    time.tzset()  # the time module read TZ when it was imported
    os.chdir(configuration["cwd"])


def function_sys_path(packages_dir: str) -> list[str]:
    """AWS's order: the function's code, the layers' directories, the runtime's packages, the runtime itself."""
    major, minor = sys.version_info[:2]
    entries = [os.environ["LAMBDA_TASK_ROOT"]]
    entries.extend(directory.format(major=major, minor=minor) for directory in LAYER_DIRS)
    if packages_dir:
        entries.append(packages_dir)
    entries.append(os.environ["LAMBDA_RUNTIME_DIR"])
    return entries


def main() -> int:
    # <fd> <packages dir> as arguments, or (started through AWS_LAMBDA_EXEC_WRAPPER) in the environment
    fd = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(CHANNEL_FD_VARIABLE, "")
    packages = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(PACKAGES_VARIABLE, "")
    os.environ.pop(CHANNEL_FD_VARIABLE, None)
    os.environ.pop(PACKAGES_VARIABLE, None)
    channel = ExecutorChannel(int(fd))
    exit_when_orphaned()
    if SPARE_MARKER in os.environ:
        received = channel.receive_configuration()
        if received is None:  # the executor closed our socket (LocalStack stopped) before using us
            return 0
        become_environment(*received)
    # -I -S left only the standard library on sys.path; the rest goes in front of it in AWS's order.
    sys.path[:0] = function_sys_path(packages)
    request_filter = install_lambda_logging()

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitError as error:
        log_error(error.error_type, str(error), error.stack_trace)
        channel.send(INIT_ERROR, "", error_body(error.error_type, str(error), error.stack_trace))
        return 1

    channel.send(READY, "", b"")
    while (frame := channel.receive()) is not None:
        kind, request_id, body = frame
        if kind != INVOKE:
            sys.stderr.write(f"[ERROR] runtime: unexpected frame {kind!r} from the executor\n")
            return 2
        answer, answer_body = run_invocation(handler, request_id, json.loads(body), request_filter)
        channel.send(answer, request_id, answer_body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
