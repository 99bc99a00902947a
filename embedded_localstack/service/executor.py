"""LocalStack Lambda runtime executor that runs each execution environment as a local process (no Docker).

Loaded by LocalStack (inside .venv-localstack) through the plux entry point ``local-process`` in the
namespace ``localstack.lambda.runtime_executor``; select it with ``LAMBDA_RUNTIME_EXECUTOR=local-process``.
Never imported by the harness.

One environment = one process of the runtime's interpreter running ``runtime/bootstrap.py``, started by the one
launcher (:func:`embedded_localstack.service.sandbox.launch.launch`): by default inside its own bubblewrap sandbox
(namespaces, cgroups, AWS's file layout), with ``EMBEDDED_LAMBDA_SANDBOX=off`` as a host process in its own process
group.
LocalStack decides when environments start (one per concurrent invocation), are reused while warm, and stop
(keep-alive expiry, code update, function deletion, shutdown). This executor adds what the Docker executor leaves
to LocalStack's Go init: the function timeout, START/END/REPORT log lines, and
replacing the process after a timeout or a crash.

Executor and runtime talk over a socket pair (frames described in ``runtime/bootstrap.py``), not over
LocalStack's HTTP executor endpoint: the Docker protocol's callback (runtime -> gateway) cost every warm invoke a
full pass through LocalStack's gateway, and the socket's end-of-file tells at once that the process died.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    InvokeSendError,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

# The frame protocol is defined once, on the runtime's side; CONFIGURE goes to a spare process only (spares.py).
from embedded_localstack.runtime.bootstrap import (
    CONFIGURE,
    FUNCTION_ERROR,
    INIT_ERROR,
    INVOKE,
    READY,
    RESULT,
    encode_frame,
)
from embedded_localstack.service.channel import DeadlinePassed, ProcessGone, RuntimeChannel
from embedded_localstack.service.function_logs import EnvironmentOutput, Report, init_report, invocation_log
from embedded_localstack.service.interpreters import InterpreterError, InterpreterResolver, runtime_version
from embedded_localstack.service.limits import RESPONSE_TOO_LARGE_MESSAGE
from embedded_localstack.service.patches.function_gateway import FUNCTION_GATEWAY_HOST, function_gateway_port
from embedded_localstack.service.sandbox.cgroups import (
    Cgroup,
    environment_cgroup_name,
    limit_all_environments,
    remove_stale_cgroups,
    start_reaper,
)
from embedded_localstack.service.sandbox.hostside import NO_CONFINEMENT, Confinement
from embedded_localstack.service.sandbox.launch import describe_exit, end_environment, fill_task_root, launch
from embedded_localstack.service.sandbox.layout import (
    DEFAULT_EPHEMERAL_MB,
    EXEC_WRAPPER_VARIABLE,
    LaunchSpec,
    base_environment,
    layout,
)
from embedded_localstack.service.sandbox.mode import fallback_warning, probe_pasta, resolve_confinement, resolve_mode
from embedded_localstack.service.sandbox.view import wrapper_problem
from embedded_localstack.service.spares import Spare, SparePool, can_run_spares, end_spare
from embedded_localstack.settings import ResourceSettings

LOG = logging.getLogger(__name__)

LIVENESS_POLL_S = 0.25
EXIT_WAIT_S = 2.0
LOOPBACK = "127.0.0.1"
INTERPRETERS = InterpreterResolver()


class SandboxMode:
    """The sandbox mode of this LocalStack process, resolved once (the first time it is needed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sandboxed: bool | None = None
        self._own_network = False
        self._resources = ResourceSettings()
        self._confinement = NO_CONFINEMENT
        self._reaper: subprocess.Popen[bytes] | None = None  # outlives LocalStack by design: never waited for

    def sandboxed(self) -> bool:
        with self._lock:
            if self._sandboxed is None:
                mode, reason = resolve_mode()
                if reason is not None:
                    LOG.warning(fallback_warning(reason))
                LOG.info("embedded Lambda sandbox: %s", mode)
                if mode == "bwrap":
                    self._confinement = resolve_confinement()  # first: a bad setting raises before anything starts
                    self._resources = ResourceSettings.from_environment()
                    remove_stale_cgroups()
                    self._reaper = start_reaper()
                    limit_all_environments(self._resources)
                    network_problem = probe_pasta()
                    if network_problem is not None:
                        LOG.warning("embedded Lambda sandbox without its own network: %s", network_problem)
                    self._own_network = network_problem is None
                self._sandboxed = mode == "bwrap"
            return self._sandboxed

    def confinement(self) -> Confinement:
        """Seccomp filter, host user and stage of this LocalStack's sandboxes (hostside.py)."""
        return self._confinement if self.sandboxed() else NO_CONFINEMENT

    def gateway_port(self) -> int | None:
        """The port a function's own network namespace forwards to (the functions' gateway listener, which refuses
        LocalStack's internal endpoints), or None (host network)."""
        return function_gateway_port() if self.sandboxed() and self._own_network else None

    def cpu(self) -> str:
        """How environments get CPU (``EMBEDDED_LAMBDA_CPU``: ``core`` or ``aws``)."""
        return self._resources.cpu if self.sandboxed() else "core"


SANDBOX = SandboxMode()
SPARES = SparePool(SANDBOX.sandboxed, SANDBOX.gateway_port, confinement=SANDBOX.confinement)


class LocalProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        # LocalStack patches are applied once, before LocalStack starts (embedded_localstack/service/patches/).
        return LocalProcessRuntimeExecutor


@dataclass(frozen=True)
class InitFailure:
    """The environment's init failed; the next invoke answers with this, as AWS does (HTTP 200, FunctionError)."""

    error_type: str
    payload: bytes | None
    """The runtime's error payload, or None when the process exited (the invoke's request id goes into the
    Runtime.ExitError message)."""
    exit_reason: str = ""


def exit_reason(code: int | None, sandboxed: bool) -> str:
    """AWS's wording for a runtime process that ended without answering."""
    if code == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: {describe_exit(code, sandboxed)}"


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as a local interpreter process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: RuntimeChannel | None = None
        self._environment: dict[str, str] = {}
        self._pending_init_ms: float | None = None
        self._sandboxed = SANDBOX.sandboxed()
        self._cgroup: Cgroup | None = None
        self._spare_task_root: Path | None = None
        self._init_failure: InitFailure | None = None
        self._last_max_memory_kb = 0
        logs_dir = Path(tempfile.gettempdir()) / "embedded-lambda-logs"
        logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        logs_dir.chmod(0o700)  # the function's output may hold secrets: not for other users
        self._output = EnvironmentOutput(logs_dir / f"{function_version.id.function_name}-{id}.log")

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self._environment = self._function_environment(env_vars)
        self._pending_init_ms = self._spawn_and_wait_until_ready()

    def stop(self) -> None:
        self._end_process()
        self._output.close()

    def _runtime(self) -> str:
        return str(self.function_version.config.runtime)

    def _tmp_mb(self) -> int:
        storage = self.function_version.config.ephemeral_storage
        return int(getattr(storage, "size", None) or DEFAULT_EPHEMERAL_MB)

    def _limit(self, cgroup: Cgroup) -> None:
        """MemorySize (its /tmp aside, as AWS counts them) and CPU (a core, or AWS's share) for this function."""
        cgroup.limit(int(self.function_version.config.memory_size), self._tmp_mb(), SANDBOX.cpu())

    def _function_environment(self, env_vars: dict[str, str]) -> dict[str, str]:
        """What the function sees: LocalStack's AWS variables and the function's own, never our environment."""
        runtime = self._runtime()
        interpreter = INTERPRETERS.resolve(runtime)
        paths = layout(self._sandboxed, runtime, self._code_dir(), interpreter)
        environment = {key: str(value) for key, value in env_vars.items()}
        if "AWS_ENDPOINT_URL" in environment:  # LocalStack's points at its main port; functions get their own
            environment["AWS_ENDPOINT_URL"] = f"http://{FUNCTION_GATEWAY_HOST}:{function_gateway_port()}"
        environment["EDGE_PORT"] = str(function_gateway_port())
        environment.update(base_environment(self._sandboxed, runtime, self._code_dir(), interpreter))
        environment.update(
            {
                "LAMBDA_TASK_ROOT": paths.task_root,
                "LAMBDA_RUNTIME_DIR": paths.runtime_dir,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            }
        )
        if self._sandboxed:
            environment["PWD"] = paths.task_root  # bwrap --chdir sets it for a fresh process; an adopted spare too
        # The function's own variables win over our defaults, as they do on AWS (LANG, PATH are not reserved).
        environment.update({key: str(value) for key, value in (self.function_version.config.environment or {}).items()})
        return environment

    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _spawn_and_wait_until_ready(self) -> float:
        """Start the process (or adopt a spare) and wait for its ready frame; returns the init duration in ms."""
        runtime = self._runtime()
        interpreter = INTERPRETERS.resolve(runtime)
        self._init_failure = None
        started = time.perf_counter()
        spares = can_run_spares(runtime_version(runtime))
        fits = spares and SPARES.fits(runtime, interpreter, self._environment, self._tmp_mb())
        spare = SPARES.take(runtime) if fits else None
        ours = None
        if spare is not None:
            try:
                ours = self._adopt(spare)
            except OSError as error:  # it died after take(): a fresh process instead
                LOG.warning("executor %s: spare %s unusable (%s)", self.id, spare.process.pid, error)
                end_spare(spare)
                self._process = self._cgroup = self._spare_task_root = None
        if ours is None:
            spec = self._launch_spec(runtime, interpreter)
            if (problem := wrapper_problem(spec)) is not None:
                # AWS cannot exec the wrapper either: Runtime.InvalidEntrypoint, answered by the invoke.
                self._init_failure = InitFailure("Runtime.InvalidEntrypoint", None, problem)
                return (time.perf_counter() - started) * 1000
            ours = self._spawn(spec)
        self._channel = RuntimeChannel(ours, self._output)
        LOG.debug("executor %s: started pid %s (%s)", self.id, self._process.pid, interpreter)
        deadline = started + config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        try:
            while not self._channel.wait_readable(min(LIVENESS_POLL_S, deadline - time.perf_counter())):
                if time.perf_counter() > deadline:
                    self._end_process()
                    raise LambdaRuntimeException("function process did not report ready in time")
            frame = self._channel.receive(deadline)
        except DeadlinePassed:
            self._end_process()
            raise LambdaRuntimeException("function process did not report ready in time") from None
        except ProcessGone:
            # sys.exit() or a crash while the handler module was imported: AWS answers the invoke with
            # Runtime.ExitError (HTTP 200), not with a service error.
            code = self._exit_code()
            self._output.drain()
            # The tail of its output names the cause (a sandbox set-up error of bwrap, a traceback, ...).
            LOG.info(
                "executor %s: function process exited with %s during init; its output ends: %s",
                self.id,
                code,
                self._output.text()[-1000:].strip() or "(nothing)",
            )
            self._init_failure = InitFailure("Runtime.ExitError", None, exit_reason(code, self._sandboxed))
            self._end_process()
            return (time.perf_counter() - started) * 1000
        if frame.kind == INIT_ERROR:
            # Answered by the next invoke (with its logs, in a log stream), as AWS does; the process exits.
            self._init_failure = self._init_error(frame.body)
            self._exit_code()
            self._end_process()
            return (time.perf_counter() - started) * 1000
        if frame.kind != READY or frame.body is None:
            self._end_process()
            raise LambdaRuntimeException(f"function process sent {frame.kind!r} instead of ready")
        init_ms = (time.perf_counter() - started) * 1000
        if self._cgroup is not None:  # frozen until its first invoke, like AWS's environments between invokes
            self._cgroup.freeze()
        # Only now, so that starting the next spare never competes with this cold start for CPU.
        if spares:
            SPARES.replenish_in_background(runtime, interpreter)
        return init_ms

    def _init_error(self, body: bytes | None) -> InitFailure:
        if body is None:  # the init's error is the invoke's answer: AWS's response limit applies
            error_type = "Function.ResponseSizeTooLarge"
            payload = json.dumps({"errorType": error_type, "errorMessage": RESPONSE_TOO_LARGE_MESSAGE}).encode()
            return InitFailure(error_type, payload)
        LOG.info("executor %s: init failed: %s", self.id, body.decode(errors="replace")[:500])
        try:
            error_type = str(json.loads(body or b"{}").get("errorType") or "Runtime.Unknown")
        except (ValueError, AttributeError):
            error_type = "Runtime.Unknown"
        return InitFailure(error_type, body)

    def _launch_spec(self, runtime: str, interpreter: Path, channel_fd: int = -1) -> LaunchSpec:
        return LaunchSpec(
            self._sandboxed,
            runtime,
            interpreter,
            self._code_dir(),
            channel_fd,
            self._tmp_mb(),
            SANDBOX.gateway_port(),
            self._environment.get(EXEC_WRAPPER_VARIABLE) or None,
            SANDBOX.confinement(),
        )

    def _spawn(self, spec: LaunchSpec) -> socket.socket:
        ours, theirs = socket.socketpair()
        spec = dataclasses.replace(spec, channel_fd=theirs.fileno())
        if self._sandboxed:
            self._cgroup = Cgroup(environment_cgroup_name(self.id))
            self._limit(self._cgroup)
        output = self._output.new_pipe()
        try:
            self._process = launch(spec, self._environment, output, self._cgroup)
        finally:
            theirs.close()  # the child has its copies; ours must go so that its exit reads as end of file
            os.close(output)
        return ours

    def _adopt(self, spare: Spare) -> socket.socket:
        """Hand a spare this environment: environment variables, working directory, output pipe (stdout/stderr)."""
        self._process, self._cgroup, self._spare_task_root = spare.process, spare.cgroup, spare.task_root
        if spare.task_root is not None:
            fill_task_root(self._code_dir(), spare.task_root)
        if spare.cgroup is not None:
            spare.cgroup.rename(environment_cgroup_name(self.id))
            self._limit(spare.cgroup)
        cwd = self._environment["LAMBDA_TASK_ROOT"]
        frame = encode_frame(CONFIGURE, "", json.dumps({"environ": self._environment, "cwd": cwd}).encode())
        output = self._output.new_pipe()
        try:
            # The descriptor travels with the frame's first bytes (SCM_RIGHTS); the rest follows if need be.
            sent = socket.send_fds(spare.channel, [frame], [output])
            spare.channel.sendall(frame[sent:])
        finally:
            os.close(output)
        LOG.debug("executor %s: adopted spare pid %s", self.id, spare.process.pid)
        return spare.channel

    def _exit_code(self) -> int | None:
        """Reap the exiting process (waiting up to EXIT_WAIT_S); keeps its peak memory for the REPORT line."""
        process = self._process
        if process is None:
            return None
        if process.returncode is not None:
            return process.returncode
        deadline = time.perf_counter() + EXIT_WAIT_S
        while True:
            try:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                return process.poll()
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                self._last_max_memory_kb = max(self._last_max_memory_kb, usage.ru_maxrss)
                return process.returncode
            if time.perf_counter() > deadline:
                return None
            time.sleep(0.01)

    def _end_process(self) -> None:
        # Measured before the kill: a timed-out invoke's REPORT shows what the function really used.
        self._last_max_memory_kb = max(self._last_max_memory_kb, self._live_max_memory_kb())
        process, self._process = self._process, None
        channel, self._channel = self._channel, None
        cgroup, self._cgroup = self._cgroup, None
        task_root, self._spare_task_root = self._spare_task_root, None
        end_environment(f"executor {self.id}", process, cgroup, task_root, channel)
        self._output.close_pipe()  # what the environment printed before it ended stays for its logs

    # -- invoke ------------------------------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        if self._init_failure is None and (self._process is None or self._process.poll() is not None or self._stray()):
            # The previous invoke timed out, the process died or misbehaved: a fresh process (a cold start, like AWS).
            self._end_process()
            self._pending_init_ms = self._spawn_and_wait_until_ready()
        init_ms, self._pending_init_ms = self._pending_init_ms, None
        self._last_max_memory_kb = 0
        # What was printed before (the init's output on an environment's first invoke) goes before START, as on AWS.
        self._output.begin_invocation()
        started = time.perf_counter()
        if self._init_failure is not None:
            return self._answer_init_failure(request_id, init_ms)
        channel = self._channel
        assert channel is not None
        if self._cgroup is not None:
            self._cgroup.thaw()
        try:
            channel.send(INVOKE, request_id, json.dumps(payload).encode())
        except ProcessGone as error:
            raise InvokeSendError(f"cannot send invoke to function process: {error}") from error
        result, status, error_type = self._await_result(channel, request_id, started)
        if self._cgroup is not None:  # nothing of it runs until the next invoke (AWS freezes it once answered)
            self._cgroup.freeze()
        duration_ms = (time.perf_counter() - started) * 1000
        result.logs = self._invocation_logs(request_id, duration_ms, init_ms, status, error_type)
        return result

    def _stray(self) -> bool:
        """True if the runtime sent something while no invoke waited (e.g. a second answer): it is replaced."""
        if self._channel is None or not self._channel.pending():
            return False
        LOG.warning("executor %s: the function process answered while no invoke waited; starting a new one", self.id)
        return True

    def _answer_init_failure(self, request_id: str, init_ms: float | None) -> InvocationResult:
        """The invoke after a failed init: AWS's error payload, the init's output and INIT_REPORT in the logs."""
        failure, self._init_failure = self._init_failure, None
        assert failure is not None
        if failure.payload is None:
            message = f"RequestId: {request_id} Error: {failure.exit_reason}"
            body = json.dumps({"errorType": failure.error_type, "errorMessage": message}).encode()
        else:
            body = failure.payload
        after_init = init_report(init_ms, failure.error_type)
        logs = self._invocation_logs(request_id, 0.0, None, "error", failure.error_type, after_init=after_init)
        return InvocationResult(request_id, body, is_error=True, logs=logs)

    def _await_result(
        self, channel: RuntimeChannel, request_id: str, started: float
    ) -> tuple[InvocationResult, str, str]:
        """The invoke's result, its REPORT status ("", timeout, error) and error type (for ``Status: error``)."""
        timeout_s = float(self.function_version.config.timeout)
        deadline = started + timeout_s
        try:
            # End of file wakes this up at once when the process dies; the deadline covers the whole frame.
            frame = channel.receive(deadline)
        except DeadlinePassed:
            self._end_process()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            return self._error(request_id, "Sandbox.Timedout", message), "timeout", ""
        except ProcessGone:
            # sys.exit() in the handler, a crash, or a kill: AWS's Runtime.ExitError with Go's exit wording.
            code = self._exit_code()
            self._end_process()
            message = f"RequestId: {request_id} Error: {exit_reason(code, self._sandboxed)}"
            return self._error(request_id, "Runtime.ExitError", message), "error", "Runtime.ExitError"
        if frame.kind not in (RESULT, FUNCTION_ERROR) or frame.request_id != request_id:
            # Never another caller's answer: the environment that mixes them up ends, this invoke gets an error.
            self._end_process()
            sent = "an answer to another request" if frame.kind in (RESULT, FUNCTION_ERROR) else f"{frame.kind!r}"
            message = f"RequestId: {request_id} Error: Runtime sent {sent} instead of this request's answer"
            return self._error(request_id, "Runtime.ExitError", message), "error", "Runtime.ExitError"
        if frame.body is None:  # larger than AWS returns; the environment stays warm, as on AWS
            error = self._error(request_id, "Function.ResponseSizeTooLarge", RESPONSE_TOO_LARGE_MESSAGE)
            return error, "error", "Function.ResponseSizeTooLarge"
        return InvocationResult(request_id, frame.body, is_error=frame.kind == FUNCTION_ERROR, logs=None), "", ""

    @staticmethod
    def _error(request_id: str, error_type: str, message: str) -> InvocationResult:
        payload = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        return InvocationResult(request_id, payload, is_error=True, logs=None)

    # -- logs --------------------------------------------------------------------------------------------------
    def _invocation_logs(
        self, request_id: str, duration_ms: float, init_ms: float | None, status: str, error_type: str, after_init=""
    ) -> str:
        """The invocation's output framed like AWS's logs, preceded by what came before it (the init's output)."""
        before, output = self._output.take()
        config_ = self.function_version.config
        report = Report(duration_ms, config_.memory_size, self._max_memory_mb(), init_ms, status, error_type)
        qualifier = self.function_version.id.qualifier
        return invocation_log(request_id, qualifier, before + after_init, output, report, float(config_.timeout))

    def _max_memory_mb(self) -> int:
        """Peak memory of the environment: live, or as measured before its process ended (timeout, exit)."""
        return max(self._live_max_memory_kb(), self._last_max_memory_kb) // 1024

    def _live_max_memory_kb(self) -> int:
        if self._cgroup is not None and (used := self._cgroup.max_memory_mb()) is not None:
            return used * 1024
        process = self._process
        if process is None:
            return 0
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def get_logs(self) -> str:
        return self._output.text()

    # -- addresses ---------------------------------------------------------------------------------------------
    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        # Functions reach LocalStack on loopback, through their own listener (patches/function_gateway.py).
        return FUNCTION_GATEWAY_HOST

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
        if can_run_spares(runtime_version(version_config.runtime)):  # so that the first invoke finds one
            SPARES.replenish_in_background(str(version_config.runtime), interpreter)
        if version_config.code:
            version_config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Environments end in stop(); the unzipped code belongs to LocalStack's code cache.
        return

    @classmethod
    def validate_environment(cls) -> bool:
        """Linux (process groups, /proc), and bubblewrap when the sandbox mode requires it."""
        if os.uname().sysname != "Linux":
            LOG.error("the local-process Lambda executor needs Linux")
            return False
        try:
            SANDBOX.sandboxed()
        except Exception as error:  # EMBEDDED_LAMBDA_SANDBOX=bwrap without a working bwrap, or a bad value
            LOG.error("the local-process Lambda executor cannot start: %s", error)
            return False
        return True
