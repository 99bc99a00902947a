"""Start, find and stop the embedded LocalStack (a host process, no Docker).

Standard library + requests only; never imports localstack (that lives in .venv-localstack). LocalStack runs
as ``<python> -m embedded_localstack.service.main`` in its own session (process group = its PID), with
data, temp dir, log file and PID file under the state dir. Function processes run in their own process groups
below it; ``stop`` collects the whole process tree before signalling so nothing survives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from embedded_localstack import paths
from embedded_localstack.service.sandbox.cgroups import REAPER_MODULE
from embedded_localstack.service.sandbox.mode import SandboxUnavailableError, fallback_warning, resolve_mode
from embedded_localstack.settings import (
    TUNING_VARIABLE,
    ResourceSettings,
    format_url_credentials,
    function_url_environment,
    resource_environment,
)

log = logging.getLogger(__name__)

DEFAULT_SERVICES = ("iam", "lambda", "sts", "logs")
COMMUNITY_SERVICES = frozenset(
    [
        "acm",
        "apigateway",
        "cloudformation",
        "cloudwatch",
        "config",
        "dynamodb",
        "dynamodbstreams",
        "ec2",
        "es",
        "events",
        "firehose",
        "iam",
        "kinesis",
        "kms",
        "lambda",
        "logs",
        "opensearch",
        "redshift",
        "resource-groups",
        "resourcegroupstaggingapi",
        "route53",
        "route53resolver",
        "s3",
        "s3control",
        "scheduler",
        "secretsmanager",
        "ses",
        "sns",
        "sqs",
        "ssm",
        "stepfunctions",
        "sts",
        "support",
        "swf",
        "transcribe",
    ]
)
"""The services localstack-core 4.9.2 (community) provides: its ``localstack.aws.provider`` entry points."""
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


class EmbeddedLocalStackError(RuntimeError):
    """Starting or stopping the embedded LocalStack failed; the message says why and where to look."""


def parse_services(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"s3, sqs"`` or ``["s3", "sqs"]`` -> the default services plus these, validated, in a stable order.

    Raises ValueError naming any service LocalStack's community edition does not provide."""
    names = text.split(",") if isinstance(text, str) else list(text)
    wanted = [name.strip().lower() for name in names if name.strip()]
    unknown = sorted(set(wanted) - COMMUNITY_SERVICES)
    if unknown:
        raise ValueError(
            f"unknown LocalStack service(s): {', '.join(unknown)}; the embedded LocalStack "
            f"(localstack-core 4.9.2) provides: {', '.join(sorted(COMMUNITY_SERVICES))}"
        )
    return tuple(dict.fromkeys([*DEFAULT_SERVICES, *wanted]))


def default_state_dir() -> Path:
    return paths.state_root() / "localstack"


def default_python() -> Path:
    return paths.CHECKOUT_ROOT / ".venv-localstack" / "bin" / "python"


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


# -- health ----------------------------------------------------------------------------------------------------
def health(endpoint: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The ``/_localstack/health`` document at ``endpoint``, or None when nothing (or not LocalStack) answers."""
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment must not answer for loopback
        try:
            response = session.get(f"{endpoint.rstrip('/')}/_localstack/health", timeout=timeout_s)
            document = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
    return document if isinstance(document, dict) and isinstance(document.get("services"), dict) else None


def unavailable_services(document: dict[str, Any], services: Sequence[str]) -> list[str]:
    """The ``services`` a health document reports as not served (absent or disabled)."""
    states = document.get("services") or {}
    return [name for name in services if states.get(name, "disabled") in ("disabled", "error")]


def is_healthy(endpoint: str, timeout_s: float = 2.0) -> bool:
    """True if a LocalStack answers ``/_localstack/health`` at ``endpoint``."""
    return health(endpoint, timeout_s) is not None


# -- processes -------------------------------------------------------------------------------------------------
def _read_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; it only waits for its parent


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with the PID, its identity."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_our_localstack(pid: int, started: int | None = None) -> bool:
    """Guards against PID reuse: the PID must still run our LocalStack entry module, started when recorded."""
    if started is not None and start_time(pid) != started:
        return False
    return _is_alive(pid) and PROCESS_MODULE in _read_cmdline(pid)


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def process_tree(root_pid: int) -> set[int]:
    """``root_pid`` and all its descendants (function processes, anything a handler started)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parent_map().items():
        children.setdefault(parent, []).append(pid)
    tree, pending = set(), [root_pid]
    while pending:
        pid = pending.pop()
        if pid not in tree:
            tree.add(pid)
            pending.extend(children.get(pid, []))
    return {pid for pid in tree if _is_alive(pid)}


def process_group_members(pgid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid and _is_alive(
                    int(entry.name)
                ):
                    members.add(int(entry.name))
    return members


def _reapers(pids: set[int]) -> set[int]:
    """The sandbox reapers (reaper.py) among ``pids``."""
    return {pid for pid in pids if f"-m {REAPER_MODULE} " in _read_cmdline(pid)}


def _signal_groups(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_until_gone(pids: set[int], timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    alive = {pid for pid in pids if _is_alive(pid)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {pid for pid in alive if _is_alive(pid)}
    return alive


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


# -- PID file --------------------------------------------------------------------------------------------------
def _read_pid_file(settings: EmbeddedSettings) -> dict | None:
    try:
        return json.loads(settings.pid_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("unreadable PID file %s; treating it as stale", settings.pid_file)
        return {}


def running_pid(settings: EmbeddedSettings) -> int | None:
    """PID of the LocalStack recorded in the PID file, or None (a stale PID file is removed)."""
    record = _read_pid_file(settings)
    if record is None:
        return None
    pid, started = record.get("pid"), record.get("start_time")
    # A record without a start time is not ours to signal (older format, or written by something else).
    if isinstance(pid, int) and isinstance(started, int) and _is_our_localstack(pid, started):
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
        missing = unavailable_services(document, settings.services)
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
        _wait_until_healthy(settings, pid, subprocess_handle=None)
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
    record = {"pid": process.pid, "start_time": start_time(process.pid), "endpoint": settings.endpoint}
    settings.pid_file.touch(mode=0o600)
    settings.pid_file.write_text(json.dumps(record) + "\n")
    log.info("started LocalStack pid %s at %s (log %s)", process.pid, settings.endpoint, settings.log_file)
    try:
        _wait_until_healthy(settings, process.pid, subprocess_handle=process)
    except EmbeddedLocalStackError:
        stop(settings)
        raise
    return EmbeddedLocalStack(settings.endpoint, process.pid, owned=True, settings=settings)


def _warn_if_uncontained() -> None:
    """The harness's side of the sandbox's ``auto`` fallback: one loud warning (LocalStack logs it too)."""
    try:
        mode, reason = resolve_mode()
    except SandboxUnavailableError as error:
        raise EmbeddedLocalStackError(str(error)) from None
    except ValueError as error:  # a bad EMBEDDED_LAMBDA_SANDBOX value
        raise EmbeddedLocalStackError(str(error)) from None
    if reason is not None:
        log.warning(fallback_warning(reason))
        print(fallback_warning(reason), file=sys.stderr)
    log.info("embedded Lambda sandbox: %s", mode)


def _wait_until_healthy(settings: EmbeddedSettings, pid: int, subprocess_handle: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + settings.startup_timeout_s
    while time.monotonic() < deadline:
        if is_healthy(settings.endpoint, timeout_s=1.0):
            return
        exited = subprocess_handle.poll() is not None if subprocess_handle else not _is_alive(pid)
        if exited:
            raise EmbeddedLocalStackError(
                f"LocalStack (pid {pid}) exited during start-up; see {settings.log_file}:\n{_log_tail(settings)}"
            )
        time.sleep(HEALTH_POLL_S)
    raise EmbeddedLocalStackError(
        f"LocalStack (pid {pid}) was not healthy at {settings.endpoint} after {settings.startup_timeout_s:.0f} s; "
        f"see {settings.log_file}:\n{_log_tail(settings)}"
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
    tree = process_tree(pid) | process_group_members(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # LocalStack shuts its services and environments down on SIGTERM
    if _wait_until_gone({pid}, STOP_GRACE_S):
        tree |= process_tree(pid)
        log.info("LocalStack %s still runs %.0f s after SIGTERM: SIGKILL", pid, STOP_GRACE_S)
        _signal_groups({pid}, signal.SIGKILL)
        _wait_until_gone({pid}, KILL_WAIT_S)
    # Its sandbox reaper (own session) clears what is left in its environments' cgroups once it has ended.
    _wait_until_gone(_reapers(tree), REAPER_WAIT_S)
    # Function sandboxes die with LocalStack (--die-with-parent); give the kernel a moment to finish that.
    _wait_until_gone(tree - {pid}, SANDBOX_EXIT_WAIT_S)
    survivors = {p for p in tree if _is_alive(p)} | process_group_members(pid)
    if survivors:
        log.info("killing %d process(es) left after SIGTERM: %s", len(survivors), sorted(survivors))
        _signal_groups(survivors, signal.SIGKILL)
        survivors = _wait_until_gone(survivors, KILL_WAIT_S)
    settings.pid_file.unlink(missing_ok=True)
    if survivors:
        raise EmbeddedLocalStackError(f"processes {sorted(survivors)} survived SIGKILL")
    deadline = time.monotonic() + PORT_FREE_WAIT_S
    while not port_is_free(settings.host, settings.port):
        if time.monotonic() > deadline:
            raise EmbeddedLocalStackError(f"port {settings.port} is still in use after stopping LocalStack")
        time.sleep(0.1)
    return True
