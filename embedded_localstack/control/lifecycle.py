"""Start, find and stop the embedded LocalStack (a host process, no Docker).

Standard library, requests and psutil (through :mod:`.processes`); never imports localstack (that lives in
.venv-localstack). Health and ports are asked of :mod:`.health` and :mod:`.ports`. LocalStack runs
as ``<python> -m embedded_localstack.service.main`` in its own session (process group = its PID), with
data, temp dir, log file and PID file under the state dir. Function processes run in their own process groups
below it; ``stop`` collects the whole process tree before signalling so nothing survives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedded_localstack import paths
from embedded_localstack.control import processes
from embedded_localstack.control.health import DEFAULT_SERVICES, health, parse_services, unusable_services, wait_healthy
from embedded_localstack.control.ports import port_is_free
from embedded_localstack.errors import EmbeddedLocalStackError
from embedded_localstack.service.sandbox.cgroups import REAPER_MODULE
from embedded_localstack.service.sandbox.hostside import host_user
from embedded_localstack.service.sandbox.mode import SandboxUnavailableError, fallback_warning, resolve_mode
from embedded_localstack.settings import (
    TUNING_VARIABLE,
    ResourceSettings,
    format_url_credentials,
    function_url_environment,
    resource_environment,
)

log = logging.getLogger(__name__)

PROCESS_MODULE = "embedded_localstack.service.main"
PID_FILE = "localstack.pid"
LOG_FILE = "localstack.log"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# What of the caller's environment reaches LocalStack (and so nothing else can reach a function): locale, time
# zone, PATH (interpreters are looked up on it), and the embedded mode's own settings. No AWS_* credentials, no
# tokens, nothing else a shell exported.
PASSED_VARIABLES = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "HOME"})
PASSED_PREFIXES = ("LC_", "EMBEDDED_LAMBDA_", "EMBEDDED_LOCALSTACK_")
HEALTH_POLL_S = 0.25
STOP_GRACE_S = 15.0
KILL_WAIT_S = 5.0
PORT_FREE_WAIT_S = 5.0
SANDBOX_EXIT_WAIT_S = 1.0
REAPER_WAIT_S = 12.0  # its kill-and-remove loop is bounded at 5 s per controller

# -- performance settings --------------------------------------------------------------------------------------
# What the embedded mode changes in LocalStack only to be faster; nothing a client observes differs
# (docs/benchmarks.md measures each). ``EmbeddedSettings(tuned=False)`` (``start --stock``) leaves all of it out:
# LocalStack's own defaults, the baseline the benchmark compares against.
PERFORMANCE_SETTINGS = {
    # LocalStack's own calls (Lambda -> STS for credentials, -> CloudWatch Logs per invocation) go straight into
    # its handler chain instead of through HTTP and the gateway: ~2 ms CPU per invocation less.
    "IN_MEMORY_CLIENT": "1",
    # CreateFunction returns once the function is Active (its response still says Pending, as AWS's does), so a
    # client's first GetFunction already sees Active instead of polling Pending -> Active.
    "LAMBDA_SYNCHRONOUS_CREATE": "1",
}


def default_state_dir() -> Path:
    return paths.StatePaths.current().localstack


def default_python() -> Path:
    return paths.checkout_localstack_python()


@dataclass(frozen=True)
class EmbeddedSettings:
    host: str = "127.0.0.1"
    port: int = 4566
    state_dir: Path = field(default_factory=default_state_dir)
    python: Path = field(default_factory=default_python)
    services: tuple[str, ...] = DEFAULT_SERVICES
    startup_timeout_s: float = 90.0
    tuned: bool = True
    """False: none of the performance settings (PERFORMANCE_SETTINGS, the tuning patches): LocalStack's defaults."""
    url_credentials: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    """Access key -> secret pairs SigV4-signed Function URL requests may also use (``EMBEDDED_LAMBDA_URL_CREDENTIALS``,
    added to the caller's)."""
    strict_url_policy: bool | None = None
    """Function URLs also need AWS's ``lambda:InvokeFunction`` statement (``EMBEDDED_LAMBDA_URL_STRICT_POLICY``);
    None: as the caller's environment says (default off)."""
    resources: ResourceSettings | None = None
    """CPU per environment and the caps over all of them (``EMBEDDED_LAMBDA_CPU``, ``..._MAX_PROCESSES``,
    ``..._MAX_MEMORY_MB``); None: as the caller's environment says (defaults in embedded_localstack/settings.py)."""

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK_HOSTS and not self.host.startswith("127."):
            raise ValueError(f"embedded LocalStack listens on loopback only; host {self.host!r} is not loopback")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, got {self.port}")
        object.__setattr__(self, "services", parse_services(self.services))
        object.__setattr__(self, "state_dir", Path(self.state_dir).resolve())
        object.__setattr__(self, "python", Path(self.python))
        pairs = dict(self.url_credentials)
        format_url_credentials(pairs)  # ValueError for a pair LocalStack's environment cannot carry
        object.__setattr__(self, "url_credentials", tuple(pairs.items()))

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / PID_FILE

    @property
    def log_file(self) -> Path:
        return self.state_dir / LOG_FILE


@dataclass
class EmbeddedLocalStack:
    endpoint: str
    pid: int | None
    owned: bool
    settings: EmbeddedSettings = dataclasses.field(repr=False)

    def stop(self) -> None:
        """Stop LocalStack if this handle started it; a reused instance belongs to someone else."""
        if self.owned:
            stop(self.settings)


# -- processes -------------------------------------------------------------------------------------------------
def _is_our_localstack(pid: int, started: float) -> bool:
    """Guards against PID reuse: the PID must still run our LocalStack entry module, started when recorded."""
    return processes.is_same_process(pid, started) and PROCESS_MODULE in processes.command_line(pid)


def _reapers(pids: set[int]) -> set[int]:
    """The sandbox reapers (reaper.py) among ``pids``."""
    return {pid for pid in pids if f"-m {REAPER_MODULE} " in processes.command_line(pid) + " "}


# -- PID file --------------------------------------------------------------------------------------------------
def _read_pid_file(settings: EmbeddedSettings) -> dict[str, Any] | None:
    try:
        record = json.loads(settings.pid_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        log.warning("unreadable PID file %s; treating it as stale", settings.pid_file)
        return {}
    return record


def running_pid(settings: EmbeddedSettings) -> int | None:
    """PID of the LocalStack recorded in the PID file, or None (a stale PID file is removed)."""
    record = _read_pid_file(settings)
    if record is None:
        return None
    pid, started = record.get("pid"), record.get("start_time")
    if type(started) is int:  # written by an earlier version: the same start, in clock ticks since boot
        started = started / os.sysconf("SC_CLK_TCK")
    # A record without a start time (seconds since boot) is not ours to signal (older format, or someone else's).
    if isinstance(pid, int) and isinstance(started, float) and _is_our_localstack(pid, started):
        return pid
    log.info("removing stale PID file %s (pid %s is not running LocalStack)", settings.pid_file, pid)
    settings.pid_file.unlink(missing_ok=True)
    return None


# -- start / stop ----------------------------------------------------------------------------------------------
def localstack_environment(settings: EmbeddedSettings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """LocalStack's environment: the allow-listed part of ``environ`` (default: ours) plus its settings."""
    source = os.environ if environ is None else environ
    environment = {
        name: value for name, value in source.items() if name in PASSED_VARIABLES or name.startswith(PASSED_PREFIXES)
    }
    environment.update(
        {
            # LocalStack's in-container check is true on these hosts; without this it ignores FILESYSTEM_ROOT.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(settings.state_dir / "filesystem"),
            "TMPDIR": str(settings.state_dir / "tmp"),
            "SERVICES": ",".join(settings.services),
            "GATEWAY_LISTEN": f"{settings.host}:{settings.port}",
            "GATEWAY_SERVER": "twisted",  # the server whose bind loopback.py fixes
            "LOCALSTACK_HOST": f"localhost.localstack.cloud:{settings.port}",
            "LAMBDA_RUNTIME_EXECUTOR": "local-process",
            "DNS_ADDRESS": "0",  # no DNS server: it would listen on 0.0.0.0:53
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "PERSISTENCE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    environment.update(performance_environment(settings.tuned))
    environment.update(function_url_environment(dict(settings.url_credentials), settings.strict_url_policy, source))
    environment.update(resource_environment(settings.resources, source))
    return environment


def performance_environment(tuned: bool) -> dict[str, str]:
    """The performance settings when ``tuned``; with ``tuned=False`` only the switch that turns tuning off."""
    if not tuned:
        return {TUNING_VARIABLE: "off"}
    return {**PERFORMANCE_SETTINGS, TUNING_VARIABLE: "on"}


def start(settings: EmbeddedSettings | None = None) -> EmbeddedLocalStack:
    """Reuse a healthy LocalStack at the endpoint, or start one in the background and wait until healthy."""
    settings = settings or EmbeddedSettings()
    document = health(settings.endpoint)
    if document is not None:
        missing = unusable_services(document, settings.services)
        if missing:
            raise EmbeddedLocalStackError(
                f"the LocalStack running at {settings.endpoint} does not serve {', '.join(missing)}; stop it "
                f"(`python -m embedded_localstack stop`) and start it again with --services {','.join(missing)}"
            )
        pid = running_pid(settings)
        log.info("reusing the LocalStack already healthy at %s", settings.endpoint)
        return EmbeddedLocalStack(settings.endpoint, pid, owned=False, settings=settings)

    pid = running_pid(settings)
    if pid is not None:
        # Ours but not healthy (still starting, or hung): wait for it rather than starting a second one.
        _wait_for_start(settings, pid, subprocess_handle=None)
        return EmbeddedLocalStack(settings.endpoint, pid, owned=False, settings=settings)

    if not port_is_free(settings.host, settings.port):
        raise EmbeddedLocalStackError(
            f"port {settings.port} on {settings.host} is in use by something that is not a healthy LocalStack; "
            "free it or choose another port (--port)"
        )
    if not settings.python.exists():
        raise EmbeddedLocalStackError(
            f"LocalStack's interpreter {settings.python} does not exist; run `make venv` to create .venv-localstack"
        )
    for directory in (settings.state_dir, settings.state_dir / "filesystem", settings.state_dir / "tmp"):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # function code, logs and state: not for other users
    _warn_if_uncontained()
    try:
        environment = localstack_environment(settings)
    except ValueError as error:  # a malformed EMBEDDED_LAMBDA_* setting in the caller's environment
        raise EmbeddedLocalStackError(str(error)) from error

    settings.log_file.touch(mode=0o600)
    with settings.log_file.open("ab") as log_output:
        log_output.write(f"\n==== embedded LocalStack start {time.strftime('%Y-%m-%dT%H:%M:%S')} ====\n".encode())
        log_output.flush()
        process = subprocess.Popen(
            [str(settings.python), "-m", PROCESS_MODULE],
            env=environment,
            cwd=settings.state_dir,
            stdin=subprocess.DEVNULL,
            stdout=log_output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() can signal the whole tree
        )
    record = {"pid": process.pid, "start_time": processes.start_time(process.pid), "endpoint": settings.endpoint}
    settings.pid_file.touch(mode=0o600)
    settings.pid_file.write_text(json.dumps(record) + "\n")
    log.info("started LocalStack pid %s at %s (log %s)", process.pid, settings.endpoint, settings.log_file)
    try:
        _wait_for_start(settings, process.pid, subprocess_handle=process)
    except EmbeddedLocalStackError:
        stop(settings)
        raise
    return EmbeddedLocalStack(settings.endpoint, process.pid, owned=True, settings=settings)


def _warn_if_uncontained() -> None:
    """The harness's side of the sandbox's ``auto`` fallback: one loud warning (LocalStack logs it too)."""
    try:
        mode, reason = resolve_mode()
        host_user()
    except SandboxUnavailableError as error:
        raise EmbeddedLocalStackError(str(error)) from None
    except ValueError as error:  # a bad EMBEDDED_LAMBDA_SANDBOX or EMBEDDED_LAMBDA_SANDBOX_USER value
        raise EmbeddedLocalStackError(str(error)) from None
    if reason is not None:
        log.warning(fallback_warning(reason))
        print(fallback_warning(reason), file=sys.stderr)
    log.info("embedded Lambda sandbox: %s", mode)


def _wait_for_start(settings: EmbeddedSettings, pid: int, subprocess_handle: subprocess.Popen[bytes] | None) -> None:
    def exited() -> bool:
        return subprocess_handle.poll() is not None if subprocess_handle else not processes.is_running(pid)

    reason = wait_healthy(
        settings.endpoint,
        settings.services,
        settings.startup_timeout_s,
        interval_s=HEALTH_POLL_S,
        request_timeout_s=1.0,
        gone=exited,
    )
    if reason is None:
        return
    if exited():
        raise EmbeddedLocalStackError(
            f"LocalStack (pid {pid}) exited during start-up; see {settings.log_file}:\n{_log_tail(settings)}"
        )
    raise EmbeddedLocalStackError(
        f"LocalStack (pid {pid}) was not healthy at {settings.endpoint} after {settings.startup_timeout_s:.0f} s "
        f"({reason}); see {settings.log_file}:\n{_log_tail(settings)}"
    )


def _log_tail(settings: EmbeddedSettings, lines: int = 15) -> str:
    try:
        return "\n".join(settings.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(settings: EmbeddedSettings | None = None) -> bool:
    """Stop the LocalStack of the PID file and every process below it; True if one was running."""
    settings = settings or EmbeddedSettings()
    pid = running_pid(settings)
    if pid is None:
        return False
    # Collect the tree first: once LocalStack is gone, its function processes are re-parented to init.
    tree = processes.process_tree(pid) | processes.group_members(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # LocalStack shuts its services and environments down on SIGTERM
    if processes.wait_until_gone({pid}, STOP_GRACE_S):
        tree |= processes.process_tree(pid)
        log.info("LocalStack %s still runs %.0f s after SIGTERM: SIGKILL", pid, STOP_GRACE_S)
        processes.signal_groups({pid}, signal.SIGKILL)
        processes.wait_until_gone({pid}, KILL_WAIT_S)
    # Its sandbox reaper (own session) clears what is left in its environments' cgroups once it has ended.
    processes.wait_until_gone(_reapers(tree), REAPER_WAIT_S)
    # Function sandboxes die with LocalStack (--die-with-parent); give the kernel a moment to finish that.
    processes.wait_until_gone(tree - {pid}, SANDBOX_EXIT_WAIT_S)
    survivors = {p for p in tree if processes.is_running(p)} | processes.group_members(pid)
    if survivors:
        log.info("killing %d process(es) left after SIGTERM: %s", len(survivors), sorted(survivors))
        processes.signal_groups(survivors, signal.SIGKILL)
        survivors = processes.wait_until_gone(survivors, KILL_WAIT_S)
    settings.pid_file.unlink(missing_ok=True)
    if survivors:
        raise EmbeddedLocalStackError(f"processes {sorted(survivors)} survived SIGKILL")
    deadline = time.monotonic() + PORT_FREE_WAIT_S
    while not port_is_free(settings.host, settings.port):
        if time.monotonic() > deadline:
            raise EmbeddedLocalStackError(f"port {settings.port} is still in use after stopping LocalStack")
        time.sleep(0.1)
    return True
