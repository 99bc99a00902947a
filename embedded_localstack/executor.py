"""LocalStack Lambda runtime executor that runs each execution environment as a local process (no Docker).

Loaded by LocalStack (inside .venv-localstack) through the plux entry point ``local-process`` in the
namespace ``localstack.lambda.runtime_executor``; select it with ``LAMBDA_RUNTIME_EXECUTOR=local-process``.
Never imported by the harness.

One environment = one process of the runtime's interpreter running ``runtime/bootstrap.py`` in its own
process group. LocalStack decides when environments start (one per concurrent invocation), are reused while
warm, and stop (keep-alive expiry, code update, function deletion, shutdown). This executor adds what the
Docker executor leaves to LocalStack's Go init: the function timeout, START/END/REPORT log lines, and
replacing the process after a timeout or a crash.

Executor and runtime talk over a socket pair (frames described in ``runtime/bootstrap.py``), not over
LocalStack's HTTP executor endpoint: the Docker protocol's callback (runtime -> gateway) cost every warm invoke a
full pass through LocalStack's gateway, and the socket's end-of-file tells at once that the process died.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    InvokeSendError,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from embedded_localstack.function_urls import limit_function_url_payloads
from embedded_localstack.interpreters import INTERPRETER_FLAGS, InterpreterError, InterpreterResolver

# The frame protocol is defined once, on the runtime's side (frame kinds: ready, init error, invoke, result,
# function error; CONFIGURE goes to a spare process only, see spares.py).
from embedded_localstack.runtime.bootstrap import (
    CONFIGURE,
    FRAME_HEADER_BYTES,
    FUNCTION_ERROR,
    INIT_ERROR,
    INVOKE,
    READY,
    RESULT,
)
from embedded_localstack.spares import Spare, SparePool, end_spare
from embedded_localstack.speedups import batch_lambda_log_shipping, tuning_enabled

LOG = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
BOOTSTRAP = RUNTIME_DIR / "bootstrap.py"
LIVENESS_POLL_S = 0.25
KILL_WAIT_S = 5.0
EXIT_WAIT_S = 2.0
LOOPBACK = "127.0.0.1"
INTERPRETERS = InterpreterResolver()
SPARES = SparePool(BOOTSTRAP, INTERPRETER_FLAGS)


class LocalProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        # Loaded with the Lambda service, before any function's log handler starts or any URL is invoked.
        if tuning_enabled():
            batch_lambda_log_shipping()
        limit_function_url_payloads()
        return LocalProcessRuntimeExecutor


class ProcessGone(Exception):
    """The function process closed its end of the channel: it exited (or is exiting)."""


class RuntimeChannel:
    """The executor's end of the socket pair with one function process."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock

    def send(self, kind: bytes, body: bytes) -> None:
        try:
            self._socket.sendall(kind + len(body).to_bytes(4, "big") + body)
        except OSError as error:
            raise ProcessGone(str(error)) from error

    def wait_readable(self, timeout_s: float) -> bool:
        try:
            readable, _, _ = select.select([self._socket], [], [], max(timeout_s, 0.0))
        except (OSError, ValueError) as error:  # closed by stop() from another thread
            raise ProcessGone(str(error)) from error
        return bool(readable)

    def receive(self) -> tuple[bytes, bytes]:
        """One whole frame (blocks until it is complete); ProcessGone at end of file."""
        header = self._read_exactly(FRAME_HEADER_BYTES)
        return header[:1], self._read_exactly(int.from_bytes(header[1:], "big"))

    def _read_exactly(self, size: int) -> bytes:
        chunks, remaining = [], size
        while remaining:
            try:
                chunk = self._socket.recv(min(remaining, 1 << 20))
            except OSError as error:
                raise ProcessGone(str(error)) from error
            if not chunk:
                raise ProcessGone("end of file")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._socket.close()


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as a local interpreter process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: RuntimeChannel | None = None
        self._environment: dict[str, str] = {}
        self._pending_init_ms: float | None = None
        logs_dir = Path(tempfile.gettempdir()) / "embedded-lambda-logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = logs_dir / f"{function_version.id.function_name}-{id}.log"

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self._environment = self._function_environment(env_vars)
        self._pending_init_ms = self._spawn_and_wait_until_ready()

    def stop(self) -> None:
        self._end_process()
        self._log_path.unlink(missing_ok=True)

    def _function_environment(self, env_vars: dict[str, str]) -> dict[str, str]:
        """What the function sees: LocalStack's AWS variables and the function's own, never our environment."""
        runtime = self.function_version.config.runtime
        interpreter = INTERPRETERS.resolve(runtime)
        environment = {key: str(value) for key, value in env_vars.items()}
        environment.update(
            {
                "LAMBDA_TASK_ROOT": str(self._code_dir()),
                "LAMBDA_RUNTIME_DIR": str(RUNTIME_DIR),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
                "PATH": f"{interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
                "LANG": "en_US.UTF-8",
            }
        )
        # The function's own variables win over our defaults, as they do on AWS (LANG, PATH are not reserved).
        environment.update({key: str(value) for key, value in (self.function_version.config.environment or {}).items()})
        return environment

    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _spawn_and_wait_until_ready(self) -> float:
        """Start the process (or adopt a spare) and wait for its ready frame; returns the init duration in ms."""
        interpreter = INTERPRETERS.resolve(self.function_version.config.runtime)
        started = time.perf_counter()
        spare = SPARES.take(interpreter) if SPARES.fits(interpreter, self._environment) else None
        ours = None
        if spare is not None:
            try:
                ours = self._adopt(spare)
            except OSError as error:  # it died after take(): a fresh process instead
                LOG.warning("executor %s: spare %s unusable (%s)", self.id, spare.process.pid, error)
                end_spare(spare)
                self._process = None
        if ours is None:
            ours = self._spawn(interpreter)
        self._channel = RuntimeChannel(ours)
        LOG.debug("executor %s: started pid %s (%s)", self.id, self._process.pid, interpreter)
        deadline = started + config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        try:
            while not self._channel.wait_readable(min(LIVENESS_POLL_S, deadline - time.perf_counter())):
                if time.perf_counter() > deadline:
                    self._end_process()
                    raise LambdaRuntimeException("function process did not report ready in time")
            kind, body = self._channel.receive()
        except ProcessGone:
            code = self._exit_code()
            raise LambdaRuntimeException(
                f"function process exited with code {code} before it was ready: {self.get_logs()[-2000:]}"
            ) from None
        if kind == INIT_ERROR:
            # As LocalStack's executor endpoint does: the caller gets this payload as the invoke's error.
            LOG.warning("Execution environment startup failed: %s", body.decode(errors="replace"))
            raise StatusErrorException("Environment startup failed", payload=body)
        if kind != READY:
            self._end_process()
            raise LambdaRuntimeException(f"function process sent {kind!r} instead of ready")
        init_ms = (time.perf_counter() - started) * 1000
        # Only now, so that starting the next spare never competes with this cold start for CPU.
        SPARES.replenish_in_background(interpreter)
        return init_ms

    def _spawn(self, interpreter: Path) -> socket.socket:
        ours, theirs = socket.socketpair()
        try:
            with self._log_path.open("ab") as log_file:
                self._process = subprocess.Popen(
                    [str(interpreter), *INTERPRETER_FLAGS, str(BOOTSTRAP), str(theirs.fileno())],
                    env=self._environment,
                    cwd=self._code_dir(),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                    pass_fds=(theirs.fileno(),),
                    # Own process group: stopping the environment also ends anything the handler started.
                    process_group=0,
                )
        finally:
            theirs.close()  # the child has its copy; ours must go so that its exit reads as end of file
        return ours

    def _adopt(self, spare: Spare) -> socket.socket:
        """Hand a spare this environment: environment variables, working directory, log file (as stdout/stderr)."""
        self._process = spare.process
        body = json.dumps({"environ": self._environment, "cwd": str(self._code_dir())}).encode()
        frame = CONFIGURE + len(body).to_bytes(4, "big") + body
        with self._log_path.open("ab") as log_file:
            # The descriptor travels with the frame's first bytes (SCM_RIGHTS); the rest follows if need be.
            sent = socket.send_fds(spare.channel, [frame], [log_file.fileno()])
            spare.channel.sendall(frame[sent:])
        LOG.debug("executor %s: adopted spare pid %s", self.id, spare.process.pid)
        return spare.channel

    def _exit_code(self) -> int | None:
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return None

    def _end_process(self) -> None:
        process, self._process = self._process, None
        channel, self._channel = self._channel, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                LOG.warning("executor %s: process %s did not end after SIGKILL", self.id, process.pid)
        if channel is not None:
            channel.close()

    # -- invoke ------------------------------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        if self._process is None or self._process.poll() is not None:
            # The previous invoke timed out or the process died: a fresh process, i.e. a cold start, like AWS.
            self._end_process()
            self._pending_init_ms = self._spawn_and_wait_until_ready()
        init_ms, self._pending_init_ms = self._pending_init_ms, None
        log_offset = self._log_size()
        started = time.perf_counter()
        channel = self._channel
        assert channel is not None
        try:
            channel.send(INVOKE, json.dumps(payload).encode())
        except ProcessGone as error:
            raise InvokeSendError(f"cannot send invoke to function process: {error}") from error
        result, status = self._await_result(channel, request_id, started)
        duration_ms = (time.perf_counter() - started) * 1000
        result.logs = self._invocation_logs(request_id, log_offset, duration_ms, init_ms, status)
        return result

    def _await_result(self, channel: RuntimeChannel, request_id: str, started: float) -> tuple[InvocationResult, str]:
        timeout_s = float(self.function_version.config.timeout)
        deadline = started + timeout_s
        try:
            # End of file wakes this up at once when the process dies; no polling needed.
            if not channel.wait_readable(deadline - time.perf_counter()):
                self._end_process()
                message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
                return self._error(request_id, "Sandbox.Timedout", message), "timeout"
            kind, body = channel.receive()
        except ProcessGone:
            code = self._exit_code()
            self._end_process()
            if code is None:
                reason = "unknown"
            else:
                reason = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            return self._error(request_id, "Runtime.ExitError", message), "error"
        if kind not in (RESULT, FUNCTION_ERROR):
            self._end_process()
            message = f"RequestId: {request_id} Error: Runtime sent an unexpected frame {kind!r}"
            return self._error(request_id, "Runtime.ExitError", message), "error"
        return InvocationResult(request_id, body, is_error=kind == FUNCTION_ERROR, logs=None), ""

    @staticmethod
    def _error(request_id: str, error_type: str, message: str) -> InvocationResult:
        payload = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        return InvocationResult(request_id, payload, is_error=True, logs=None)

    # -- logs --------------------------------------------------------------------------------------------------
    def _log_size(self) -> int:
        try:
            return self._log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _invocation_logs(
        self, request_id: str, offset: int, duration_ms: float, init_ms: float | None, status: str
    ) -> str:
        """The invocation's stdout/stderr (cut from the environment's log file) framed like AWS's logs."""
        with self._log_path.open("rb") as log_file:
            log_file.seek(offset)
            output = log_file.read().decode("utf-8", errors="replace")
        if output and not output.endswith("\n"):
            output += "\n"
        config_ = self.function_version.config
        lines = [f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n", output]
        if status == "timeout":
            timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            lines.append(f"{timestamp} {request_id} Task timed out after {float(config_.timeout):.2f} seconds\n")
        lines.append(f"END RequestId: {request_id}\n")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, int(duration_ms + 0.999))} ms\tMemory Size: {config_.memory_size} MB\t"
            f"Max Memory Used: {self._max_memory_mb()} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        lines.append(report + "\n")
        return "".join(lines)

    def _max_memory_mb(self) -> int:
        process = self._process
        if process is None:
            return 0
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
        except OSError:
            pass
        return 0

    def get_logs(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- addresses ---------------------------------------------------------------------------------------------
    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        # Functions reach LocalStack on loopback; the gateway listens there only (see loopback.py).
        host = config.GATEWAY_LISTEN[0].host
        return host if host not in ("0.0.0.0", "::", "") else LOOPBACK  # noqa: S104 - a check, not a bind

    def get_runtime_endpoint(self) -> str:
        # Unused by our runtime (it talks over the socket pair) but passed to the function as
        # LOCALSTACK_RUNTIME_ENDPOINT, as LocalStack does for its Docker environments.
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}{NAMESPACE}/{self.id}"

    # -- versions ----------------------------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        version_config = function_version.config
        if version_config.package_type != PackageType.Zip:
            raise LambdaRuntimeException("the local-process executor runs zip packages only, not container images")
        try:
            interpreter = INTERPRETERS.resolve(version_config.runtime)
        except InterpreterError as error:
            # Raised here, the function goes State=Failed with this message as StateReason.
            raise LambdaRuntimeException(str(error)) from error
        SPARES.replenish_in_background(interpreter)  # so that even the first invoke finds one
        if version_config.code:
            version_config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Environments end in stop(); the unzipped code belongs to LocalStack's code cache.
        return

    @classmethod
    def validate_environment(cls) -> bool:
        return True
