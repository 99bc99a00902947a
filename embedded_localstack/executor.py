"""LocalStack Lambda runtime executor that runs each execution environment as a local process (no Docker).

Loaded by LocalStack (inside .venv-localstack) through the plux entry point ``local-process`` in the
namespace ``localstack.lambda.runtime_executor``; select it with ``LAMBDA_RUNTIME_EXECUTOR=local-process``.
Never imported by the harness.

One environment = one process of the runtime's interpreter running ``runtime/bootstrap.py`` in its own
process group. LocalStack decides when environments start (one per concurrent invocation), are reused while
warm, and stop (keep-alive expiry, code update, function deletion, shutdown). This executor adds what the
Docker executor leaves to LocalStack's Go init: the function timeout, START/END/REPORT log lines, and
replacing the process after a timeout or a crash.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeoutError
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint, InvokeSendError
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor
from werkzeug import Request

from embedded_localstack.interpreters import InterpreterError, InterpreterResolver

LOG = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
BOOTSTRAP = RUNTIME_DIR / "bootstrap.py"
# -I: no user site, no PYTHON* variables, no script dir on sys.path; -S: no site-packages at all;
# -B: leave the unzipped code untouched (AWS's /var/task is read-only); -u: output reaches the log at once.
INTERPRETER_FLAGS = ("-I", "-S", "-B", "-u")
LIVENESS_POLL_S = 0.25
SEND_TIMEOUT_S = 10.0
KILL_WAIT_S = 5.0
LOOPBACK = "127.0.0.1"
INTERPRETERS = InterpreterResolver()


class LocalProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        return LocalProcessRuntimeExecutor


class LocalProcessEndpoint(ExecutorEndpoint):
    """LocalStack's callback routes for one environment, plus the /invoke port the runtime reports."""

    def __init__(self, executor_id: str) -> None:
        super().__init__(executor_id, container_address=LOOPBACK, container_port=None)
        self._expected_request_id: str | None = None
        self._lock = threading.Lock()

    def reset_startup(self) -> None:
        self.startup_future = Future()
        self.container_port = None

    def status_ready(self, request: Request, executor_id: str) -> Response:
        reported = request.get_json(silent=True) or {}
        self.container_port = int(reported.get("port") or 0) or None
        return super().status_ready(request, executor_id)

    def expect_invocation(self, request_id: str) -> Future[InvocationResult]:
        with self._lock:
            self._expected_request_id = request_id
            self.invocation_future = Future()
            return self.invocation_future

    def invocation_response(self, request: Request, req_id: str) -> Response:
        return self._complete(req_id, request.data, is_error=False)

    def invocation_error(self, request: Request, req_id: str) -> Response:
        return self._complete(req_id, request.data, is_error=True)

    def _complete(self, request_id: str, payload: bytes, is_error: bool) -> Response:
        # A late answer (after a timeout the executor already reported) must not resolve the next invoke.
        with self._lock:
            future = self.invocation_future
            if future is None or request_id != self._expected_request_id:
                return Response(status=HTTPStatus.CONFLICT)
            try:
                future.set_result(InvocationResult(request_id, payload, is_error=is_error, logs=None))
            except InvalidStateError:
                return Response(status=HTTPStatus.CONFLICT)
        return Response(status=HTTPStatus.ACCEPTED)


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as a local interpreter process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.endpoint = LocalProcessEndpoint(id)
        self._process: subprocess.Popen[bytes] | None = None
        self._environment: dict[str, str] = {}
        self._connection: http.client.HTTPConnection | None = None
        self._pending_init_ms: float | None = None
        logs_dir = Path(tempfile.gettempdir()) / "embedded-lambda-logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = logs_dir / f"{function_version.id.function_name}-{id}.log"

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self._environment = self._function_environment(env_vars)
        self.endpoint.start()
        self._pending_init_ms = self._spawn_and_wait_until_ready()

    def stop(self) -> None:
        self._end_process()
        try:
            self.endpoint.shutdown()
        except Exception as error:
            LOG.debug("executor %s: endpoint shutdown: %s", self.id, error)
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
        """Start the process and wait for its ready call; returns the init duration in ms."""
        interpreter = INTERPRETERS.resolve(self.function_version.config.runtime)
        self.endpoint.reset_startup()
        started = time.perf_counter()
        with self._log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                [str(interpreter), *INTERPRETER_FLAGS, str(BOOTSTRAP)],
                env=self._environment,
                cwd=self._code_dir(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                close_fds=True,
                # Own process group: stopping the environment also ends anything the handler started.
                process_group=0,
            )
        LOG.debug("executor %s: started pid %s (%s)", self.id, self._process.pid, interpreter)
        deadline = started + config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        while True:
            try:
                # StatusErrorException (init error) propagates: LocalStack returns its payload to the caller.
                self.endpoint.startup_future.result(timeout=LIVENESS_POLL_S)
                break
            except FutureTimeoutError:
                if self._process.poll() is not None:
                    raise LambdaRuntimeException(
                        f"function process exited with code {self._process.returncode} before it was ready: "
                        f"{self.get_logs()[-2000:]}"
                    ) from None
                if time.perf_counter() > deadline:
                    self._end_process()
                    raise LambdaRuntimeException("function process did not report ready in time") from None
        if not self.endpoint.container_port:
            raise LambdaRuntimeException("function process reported ready without its /invoke port")
        self._connection = None
        return (time.perf_counter() - started) * 1000

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            LOG.warning("executor %s: process %s did not end after SIGKILL", self.id, process.pid)

    # -- invoke ------------------------------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        if self._process is None or self._process.poll() is not None:
            # The previous invoke timed out or the process died: a fresh process, i.e. a cold start, like AWS.
            self._pending_init_ms = self._spawn_and_wait_until_ready()
        init_ms, self._pending_init_ms = self._pending_init_ms, None
        future = self.endpoint.expect_invocation(request_id)
        log_offset = self._log_size()
        started = time.perf_counter()
        self._send_invoke(payload)
        result, status = self._await_result(future, request_id, started)
        duration_ms = (time.perf_counter() - started) * 1000
        result.logs = self._invocation_logs(request_id, log_offset, duration_ms, init_ms, status)
        return result

    def _send_invoke(self, payload: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        # One retry on a fresh connection: a kept-alive connection may have been closed by the runtime.
        for attempt in range(2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    LOOPBACK, self.endpoint.container_port, timeout=SEND_TIMEOUT_S
                )
            try:
                self._connection.request("POST", "/invoke", body=body, headers={"Content-Type": "application/json"})
                response = self._connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                self._connection.close()
                self._connection = None
                if attempt == 1:
                    raise InvokeSendError(f"cannot send invoke to function process: {error}") from error
                continue
            if response.status >= 300:
                raise InvokeSendError(f"function process refused the invoke: HTTP {response.status}")
            return

    def _await_result(
        self, future: Future[InvocationResult], request_id: str, started: float
    ) -> tuple[InvocationResult, str]:
        timeout_s = float(self.function_version.config.timeout)
        deadline = started + timeout_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                self._end_process()
                message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
                return self._error(request_id, "Sandbox.Timedout", message), "timeout"
            try:
                return future.result(timeout=min(remaining, LIVENESS_POLL_S)), ""
            except FutureTimeoutError:
                process = self._process
                if process is not None and process.poll() is not None and not future.done():
                    code = process.returncode
                    self._end_process()
                    reason = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                    message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
                    return self._error(request_id, "Runtime.ExitError", message), "error"

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
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}{self.endpoint.get_endpoint_prefix()}"

    # -- versions ----------------------------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        version_config = function_version.config
        if version_config.package_type != PackageType.Zip:
            raise LambdaRuntimeException("the local-process executor runs zip packages only, not container images")
        try:
            INTERPRETERS.resolve(version_config.runtime)
        except InterpreterError as error:
            # Raised here, the function goes State=Failed with this message as StateReason.
            raise LambdaRuntimeException(str(error)) from error
        if version_config.code:
            version_config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Environments end in stop(); the unzipped code belongs to LocalStack's code cache.
        return

    @classmethod
    def validate_environment(cls) -> bool:
        return True
