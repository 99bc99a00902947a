"""The one launcher of function processes: command line, environment and containment of an execution environment.

Both a freshly started environment (executor.py) and a pre-started spare (spares.py) are started by
:func:`launch`, so the two can never drift. With the sandbox on (``EMBEDDED_LAMBDA_SANDBOX=auto|bwrap``, read
when LocalStack starts) every process runs inside bubblewrap, shaped like a Lambda execution environment:

* user, pid, mount, ipc, uts and cgroup namespaces; uid 993 / gid 990 inside (AWS's ``sbx_user1051``), no
  capabilities; ``--die-with-parent`` and a pid namespace, so the whole environment dies with its first process;
* read-only: ``/usr`` (libraries), the interpreter's prefix at ``/var/lang`` (AWS's path), our runtime loop at
  ``/var/runtime``, the function's code at ``/var/task``, the runtime packages at
  ``/var/lang/lib/<runtime>/site-packages`` (when they exist on the host), a few files of ``/etc`` (resolver,
  CA certificates);
* private: ``/proc``, a minimal ``/dev``, ``/tmp`` as a tmpfs capped at the function's EphemeralStorage, an
  empty ``/opt``; nothing else of the host (no home, no checkout, no LocalStack state, no other function);
* cgroups (v1 ``memory`` and ``pids`` hierarchies, when they can be created): memory limited to MemorySize +
  EphemeralStorage (tmpfs pages are charged to the cgroup, AWS counts /tmp separately), 1024 processes/threads.

``off`` runs the interpreter directly on the host, as before the sandbox existed (host paths for the task root,
the runtime dir and the packages). ``auto`` probes bubblewrap once and falls back to ``off`` with one warning.
Standard library only: imported by the executor inside LocalStack and by the launcher in the harness.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from embedded_localstack.runtime.bootstrap import CHANNEL_FD_VARIABLE, PACKAGES_VARIABLE
from embedded_localstack.runtime_packages import packages_dir, sandbox_packages_dir
from embedded_localstack.service.interpreters import INTERPRETER_FLAGS
from embedded_localstack.service.limits import MAX_PROCESSES

LOG = logging.getLogger(__name__)

MODE_VARIABLE = "EMBEDDED_LAMBDA_SANDBOX"
EXEC_WRAPPER_VARIABLE = "AWS_LAMBDA_EXEC_WRAPPER"
"""AWS runs ``<wrapper> <runtime command...>`` when a function sets it; see :func:`runtime_command`."""
MODES = ("auto", "bwrap", "off")
RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
BOOTSTRAP_NAME = "bootstrap.py"

# AWS's layout and identity inside an execution environment.
SANDBOX_TASK_ROOT = "/var/task"
SANDBOX_RUNTIME_DIR = "/var/runtime"
SANDBOX_LANG_DIR = "/var/lang"
SANDBOX_UID = 993
SANDBOX_GID = 990
SANDBOX_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
SANDBOX_LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)
DEFAULT_EPHEMERAL_MB = 512
HOST_ETC_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/ssl/certs", "/etc/ssl/openssl.cnf",
                  "/etc/ca-certificates", "/etc/localtime")  # fmt: skip
PROBE_TIMEOUT_S = 15.0
# AWS's user database inside an execution environment: pwd.getpwuid(993) is sbx_user1051 (Path.home() works).
IDENTITY_FILES = {
    "passwd": "root:x:0:0:root:/root:/sbin/nologin\n"
    f"sbx_user1051:x:{SANDBOX_UID}:{SANDBOX_GID}::/home/sbx_user1051:/sbin/nologin\n",
    "group": f"root:x:0:\nsbx_user1051:x:{SANDBOX_GID}:\n",
}
NETWORK_SETUP_TIMEOUT_S = 15.0
KILL_WAIT_S = 5.0  # for a SIGKILLed function process to be reaped
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Variables the dynamic loader, libc or the interpreter read while the process starts: a spare started without
# them (or with other values) would not be equivalent to a fresh process, so such a function gets a fresh one.
STARTUP_PREFIXES = ("LD_", "MALLOC_", "GLIBC_", "LC_", "PYTHON")
STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS",
                           "TMPDIR", "LOCALDOMAIN", EXEC_WRAPPER_VARIABLE})  # fmt: skip


class SandboxUnavailableError(RuntimeError):
    """``EMBEDDED_LAMBDA_SANDBOX=bwrap`` was asked for but bubblewrap cannot run here; the message says how."""


def is_startup_variable(name: str) -> bool:
    return name in STARTUP_NAMES or name.startswith(STARTUP_PREFIXES)


# -- mode ------------------------------------------------------------------------------------------------------
def requested_mode(environ: Mapping[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def probe_bwrap() -> str | None:
    """None if bubblewrap can build an execution environment here, else why not (one probe, ~25 ms)."""
    if os.uname().sysname != "Linux":
        return "the sandbox needs Linux namespaces"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (the Makefile does it as root)"
    command = [bwrap, *_namespace_args(), *_base_mounts(), "--", "/usr/bin/true"]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap cannot run: {error}"
    if completed.returncode != 0:
        return f"bwrap failed (exit {completed.returncode}): {completed.stderr.strip()[-300:]}"
    return None


def probe_pasta() -> str | None:
    """None if pasta (Debian ``passt``) is installed for the functions' network namespaces, else why not."""
    if shutil.which("pasta") is None:
        return "pasta is not installed (`apt-get install passt`): functions share the host's network namespace"
    return None


def resolve_mode(environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """(``"bwrap"`` or ``"off"``, the reason for falling back or None). Raises if ``bwrap`` is required but fails."""
    wanted = requested_mode(environ)
    if wanted == "off":
        return "off", None
    problem = probe_bwrap()
    if problem is None:
        return "bwrap", None
    if wanted == "bwrap":
        raise SandboxUnavailableError(f"{MODE_VARIABLE}=bwrap but {problem}")
    return "off", problem


def fallback_warning(reason: str) -> str:
    return (
        f"WARNING: embedded Lambda sandbox unavailable ({reason}); functions run UNCONTAINED as host processes "
        f"(own files, uid, environment of the host). Install bubblewrap or set {MODE_VARIABLE}=off to silence this."
    )


# -- what a function sees --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Paths as the function sees them (sandboxed: AWS's; off: the host's)."""

    task_root: str
    runtime_dir: str
    packages: str  # the bootstrap's second argument: site-packages dir of the runtime packages, or ""
    path: str


def layout(sandboxed: bool, runtime: str, code_dir: Path, interpreter: Path) -> Layout:
    host_packages = packages_dir(runtime)
    if sandboxed:
        packages = sandbox_packages_dir(runtime) if host_packages.is_dir() else ""
        return Layout(SANDBOX_TASK_ROOT, SANDBOX_RUNTIME_DIR, packages, SANDBOX_PATH)
    packages = str(host_packages) if host_packages.is_dir() else ""
    return Layout(str(code_dir), str(RUNTIME_DIR), packages, f"{interpreter.parent}:/usr/local/bin:/usr/bin:/bin")


def base_environment(sandboxed: bool, runtime: str, code_dir: Path, interpreter: Path) -> dict[str, str]:
    """The variables every process of this runtime starts with (a spare's whole environment, bar its marker)."""
    paths = layout(sandboxed, runtime, code_dir, interpreter)
    environment = {"PATH": paths.path, "LANG": "en_US.UTF-8"}
    if sandboxed:
        environment["LD_LIBRARY_PATH"] = SANDBOX_LD_LIBRARY_PATH
    return environment


# -- command line ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LaunchSpec:
    """Everything that decides how one function process is started."""

    sandboxed: bool
    runtime: str
    interpreter: Path
    code_dir: Path
    """Host directory that becomes the task root (for a spare: its own empty directory, filled on adoption)."""
    channel_fd: int
    tmp_mb: int = DEFAULT_EPHEMERAL_MB
    gateway_port: int | None = None
    """Sandboxed with its own network namespace: the one host loopback port it reaches (LocalStack's gateway)."""
    exec_wrapper: str | None = None
    """The function's ``AWS_LAMBDA_EXEC_WRAPPER`` (a path as the function sees it, e.g. /var/task/wrapper)."""


def interpreter_prefix(interpreter: Path) -> Path:
    """The installation the interpreter belongs to (``<prefix>/bin/python3.X``), bound at /var/lang.

    Resolved first: on a merged-/usr host ``/bin/python3.X`` would otherwise make the prefix ``/`` and show the
    whole host filesystem at /var/lang."""
    prefix = interpreter.resolve().parent.parent
    if prefix == Path(prefix.anchor):
        raise OSError(f"interpreter {interpreter} has no installation prefix of its own to bind at /var/lang")
    return prefix


def _namespace_args() -> list[str]:
    return [
        "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", "localhost",
        "--die-with-parent", "--new-session", "--disable-userns",
    ]  # fmt: skip


def _base_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "bin", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            args += ["--symlink", str(link.readlink()), f"/{name}"]
        elif link.is_dir():
            args += ["--ro-bind", str(link), f"/{name}"]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def host_location(spec: LaunchSpec, path: str) -> Path | None:
    """Where a path the function sees lives on the host (None: nothing there yet, e.g. /opt or /tmp)."""
    seen = Path(path)
    binds = {Path(SANDBOX_TASK_ROOT): spec.code_dir}
    if spec.sandboxed:
        binds |= {Path(SANDBOX_RUNTIME_DIR): RUNTIME_DIR, Path(SANDBOX_LANG_DIR): interpreter_prefix(spec.interpreter)}
        if seen.is_relative_to("/opt") or seen.is_relative_to("/tmp"):  # noqa: S108 - the sandbox's own /tmp
            return None
    for inside, outside in binds.items():
        if seen.is_relative_to(inside):
            return outside / seen.relative_to(inside)
    return seen


def wrapper_problem(spec: LaunchSpec) -> str | None:
    """Why the exec wrapper cannot be started, in the words of AWS's ``fork/exec`` error, or None."""
    if not spec.exec_wrapper or not spec.exec_wrapper.startswith("/"):
        return None  # a bare name is looked up on PATH when the wrapper is executed
    found = host_location(spec, spec.exec_wrapper)
    if found is None or not found.exists():
        return f"fork/exec {spec.exec_wrapper}: no such file or directory"
    if found.is_dir() or not os.access(found, os.X_OK):
        return f"fork/exec {spec.exec_wrapper}: permission denied"
    return None


def runtime_command(spec: LaunchSpec) -> list[str]:
    """The runtime's own command as the function sees it. With an exec wrapper it is AWS's shape, ending in the
    bootstrap script (wrappers insert interpreter options before the last argument), and the channel and the
    packages dir travel in the environment instead."""
    paths = layout(spec.sandboxed, spec.runtime, spec.code_dir, spec.interpreter)
    interpreter = f"{SANDBOX_LANG_DIR}/bin/{spec.interpreter.name}" if spec.sandboxed else str(spec.interpreter)
    bootstrap = f"{paths.runtime_dir}/{BOOTSTRAP_NAME}"
    if spec.exec_wrapper:
        wrapper = spec.exec_wrapper
        if not spec.sandboxed and (found := host_location(spec, wrapper)) is not None and wrapper.startswith("/"):
            wrapper = str(found)  # /var/task/... is the code dir on the host
        return [wrapper, interpreter, *INTERPRETER_FLAGS, bootstrap]
    return [interpreter, *INTERPRETER_FLAGS, bootstrap, str(spec.channel_fd), paths.packages]


def launch_environment(spec: LaunchSpec, environment: Mapping[str, str]) -> dict[str, str]:
    """The process's environment: the function's, plus the channel and packages dir for a wrapped runtime."""
    result = dict(environment)
    if spec.exec_wrapper:
        result[CHANNEL_FD_VARIABLE] = str(spec.channel_fd)
        result[PACKAGES_VARIABLE] = layout(spec.sandboxed, spec.runtime, spec.code_dir, spec.interpreter).packages
    return result


def command(
    spec: LaunchSpec, network_args: list[str] | None = None, inside_only: Mapping[str, str] | None = None
) -> list[str]:
    """The full command line of one function process (sandboxed or not); ``inside_only`` are variables bwrap sets
    inside the sandbox only (see :func:`split_environment`)."""
    if not spec.sandboxed:
        return runtime_command(spec)
    prefix = interpreter_prefix(spec.interpreter)
    args = [shutil.which("bwrap") or "bwrap", *_namespace_args(), *(network_args or []), *_base_mounts()]
    args += ["--ro-bind", str(prefix), SANDBOX_LANG_DIR]
    host_packages = packages_dir(spec.runtime)
    if host_packages.is_dir():
        args += ["--ro-bind", str(host_packages), sandbox_packages_dir(spec.runtime)]
    args += ["--ro-bind", str(RUNTIME_DIR), SANDBOX_RUNTIME_DIR, "--ro-bind", str(spec.code_dir), SANDBOX_TASK_ROOT]
    for path in HOST_ETC_FILES:
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    for name, host_path in identity_files().items():
        args += ["--ro-bind", str(host_path), f"/etc/{name}"]
    args += ["--dir", "/opt", "--size", str(spec.tmp_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp"]  # noqa: S108
    for name, value in sorted((inside_only or {}).items()):
        args += ["--setenv", name, value]
    args += ["--chdir", SANDBOX_TASK_ROOT, "--", *runtime_command(spec)]
    return args


def split_environment(spec: LaunchSpec, environment: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(what the host-side processes get, what only the sandboxed process gets).

    The host side of a sandboxed start (the cgroup-joining shell, bwrap) runs outside every namespace, so the
    variables the loader and libc read at start-up (``LD_PRELOAD``, ``GLIBC_TUNABLES``, ``GCONV_PATH``, ...) must
    not reach it: bwrap sets them inside with ``--setenv``."""
    if not spec.sandboxed:
        return dict(environment), {}
    inside_only = {name: value for name, value in environment.items() if is_startup_variable(name)}
    return {name: value for name, value in environment.items() if name not in inside_only}, inside_only


def identity_files() -> dict[str, Path]:
    """/etc/passwd and /etc/group for the sandbox, written once under the temp dir (LocalStack's: private)."""
    directory = Path(tempfile.gettempdir()) / "embedded-lambda-etc"
    files = {name: directory / name for name in IDENTITY_FILES}
    if all(path.is_file() for path in files.values()):
        return files
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, content in IDENTITY_FILES.items():
        partial = directory / f".{name}.{os.getpid()}.{threading.get_ident()}"
        partial.write_text(content)
        partial.chmod(0o644)
        partial.replace(files[name])
    return files


# -- cgroups ---------------------------------------------------------------------------------------------------
CONTROLLERS = ("memory", "pids")
"""The cgroup v1 controllers of an environment's limits (memory, processes)."""


def owner_cgroup_name(owner: int | str) -> str:
    """Name of the cgroup (per controller) that holds LocalStack ``owner``'s environment cgroups."""
    return f"embedded-lambda-{owner}"


def _own_cgroup(controller: str) -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return CGROUP_ROOT / controller / path.lstrip("/")
    except OSError:
        return None
    return None


_CGROUP_WARNED: set[str] = set()


class Cgroup:
    """One environment's cgroups (v1 memory + pids); absent when they cannot be created (then limits are off)."""

    def __init__(self, name: str) -> None:
        self.dirs: dict[str, Path] = {}
        for controller in CONTROLLERS:
            parent = _own_cgroup(controller)
            if parent is None:
                continue
            directory = parent / owner_cgroup_name(os.getpid()) / name
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                if controller not in _CGROUP_WARNED:
                    _CGROUP_WARNED.add(controller)
                    LOG.warning("no %s cgroup for function environments (%s): that limit is off", controller, error)
                continue
            self.dirs[controller] = directory
        self._write("pids", "pids.max", str(MAX_PROCESSES))

    def _write(self, controller: str, name: str, value: str) -> bool:
        directory = self.dirs.get(controller)
        if directory is None:
            return False
        try:
            (directory / name).write_text(value)
        except OSError as error:
            LOG.warning("cannot set %s=%s in %s: %s", name, value, directory, error)
            return False
        return True

    def rename(self, name: str) -> None:
        """Adopted spare: its cgroups take the environment's name (cgroup v1 allows renaming a cgroup)."""
        for controller, directory in list(self.dirs.items()):
            try:
                self.dirs[controller] = directory.rename(directory.with_name(name))
            except OSError as error:
                LOG.debug("cannot rename %s to %s: %s", directory, name, error)

    def limit_memory(self, megabytes: int) -> bool:
        limited = self._write("memory", "memory.limit_in_bytes", str(megabytes * 1024 * 1024))
        self._write("memory", "memory.swappiness", "0")
        return limited

    def max_memory_mb(self) -> int | None:
        directory = self.dirs.get("memory")
        with contextlib.suppress(OSError, ValueError):
            if directory is not None:
                return int((directory / "memory.max_usage_in_bytes").read_text()) // (1024 * 1024)
        return None

    def join_prefix(self) -> list[str]:
        """A shell prefix that moves itself into the cgroups, then execs the command (same pid)."""
        procs = [str(d / "cgroup.procs") for d in self.dirs.values()]
        if not procs:
            return []
        script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 126; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *procs, "--"]

    def members(self) -> set[int]:
        return _members(self.dirs.values())

    def destroy(self) -> None:
        """SIGKILL whatever is still inside (a setsid or double-forked child), then remove the cgroups."""
        _kill_members_and_remove(self.dirs.values())
        self.dirs = {}
        NETWORK_HELPERS.reap()  # the environment's pasta was inside: no zombie is left until the next start


def _members(directories: Iterable[Path]) -> set[int]:
    found: set[int] = set()
    for directory in directories:
        with contextlib.suppress(OSError, ValueError):
            found |= {int(p) for p in (directory / "cgroup.procs").read_text().split()}
    return found


def _kill_members_and_remove(directories: Iterable[Path]) -> None:
    """SIGKILL every process inside these cgroups (put there by our sandbox), then remove them.

    First no process inside may start another (pids.max 0), so neither a fork loop nor a late joiner (a sandbox's
    ``sh`` prefix that moved itself in after a sweep) can outrun the kills; repeated until every cgroup is gone."""
    directories = list(directories)
    for directory in directories:
        with contextlib.suppress(OSError):
            (directory / "pids.max").write_text("0")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if members := _members(directories):
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        else:
            for directory in directories:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if not any(directory.exists() for directory in directories):
                return
        time.sleep(0.02)
    LOG.warning("cgroups not removed after 5 s: %s", ", ".join(str(d) for d in directories if d.exists()))


def _children(directory: Path) -> list[Path]:
    """The environment cgroups in a LocalStack's cgroup; none once it is gone (it may be removed concurrently)."""
    try:
        return [child for child in directory.iterdir() if child.is_dir()]
    except OSError:
        return []


LEFTOVER_GRACE_S = 0.5
"""How long the kernel gets to end a dead LocalStack's environments before its reaper kills what is left."""


def environment_cgroup_name(executor_id: str) -> str:
    """Name of an environment's cgroups (``LOCALSTACK_RUNTIME_ID`` inside the function is the executor id)."""
    return f"env-{executor_id}"


def remove_stale_cgroups() -> None:
    """Clear the cgroups a LocalStack that was killed left behind; never one of a running LocalStack.

    Normally its reaper (``end_leftovers``) has done this already; this covers a reaper that was killed too.
    """
    for controller in CONTROLLERS:
        parent = _own_cgroup(controller)
        if parent is None or not parent.is_dir():
            continue
        for directory in parent.glob(owner_cgroup_name("*")):
            owner = directory.name.rpartition("-")[2]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                _clear_owner_cgroup(directory)


def end_leftovers(owner: int, grace_s: float = LEFTOVER_GRACE_S) -> None:
    """SIGKILL what is left in the environment cgroups of the LocalStack ``owner``, which has ended; remove them.

    The kernel gets ``grace_s`` to end what ends with LocalStack (``--die-with-parent``, pid namespaces); what is
    still inside after that would stay: e.g. the pid-namespace init of a sandbox being started when LocalStack
    was SIGKILLed, which bwrap's ``--die-with-parent`` does not reach (see reaper.py).
    """
    parents = [parent / owner_cgroup_name(owner) for c in CONTROLLERS if (parent := _own_cgroup(c)) is not None]
    deadline = time.monotonic() + grace_s
    while _members(child for parent in parents for child in _children(parent)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    for directory in parents:
        _clear_owner_cgroup(directory)


def _clear_owner_cgroup(directory: Path) -> None:
    """Clear one dead LocalStack's cgroups; one that is gone already (a reaper and a new start racing) is fine."""
    children = _children(directory)
    owner = directory.name.rpartition("-")[2]
    if leftovers := _members(children):
        LOG.warning("ending %d process(es) left by LocalStack %s: %s", len(leftovers), owner, directory)
    _kill_members_and_remove(children)
    with contextlib.suppress(OSError):
        directory.rmdir()


def start_reaper() -> subprocess.Popen[bytes] | None:
    """Start this LocalStack's reaper (reaper.py): it ends what LocalStack's sandboxes leave when LocalStack ends.

    It is handed a pidfd of this process, opened here: it cannot refer to any other process, however late the
    reaper gets to wait on it. None (with a warning) when the kernel has no pidfds (Linux < 5.3): then the next
    LocalStack to start clears what this one leaves (``remove_stale_cgroups``)."""
    try:
        pidfd = os.pidfd_open(os.getpid())
    except OSError as error:
        LOG.warning("no reaper for this LocalStack's sandboxes (pidfd_open: %s)", error)
        return None
    try:
        return subprocess.Popen(
            [sys.executable, "-m", REAPER_MODULE, str(os.getpid()), str(pidfd)],
            stdin=subprocess.DEVNULL,
            close_fds=True,  # it holds nothing of a function's: no channel, no pipe end
            pass_fds=(pidfd,),
            start_new_session=True,  # not in LocalStack's process group: a signal to that group is not its end
        )
    finally:
        os.close(pidfd)


REAPER_MODULE = "embedded_localstack.service.reaper"


# -- starting --------------------------------------------------------------------------------------------------
# bubblewrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that started bwrap ends.
# LocalStack starts environments from short-lived threads, so every function process is started from this one
# long-lived thread.
_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="function-launcher")
_LAUNCH_LOCK = threading.Lock()


def launch(
    spec: LaunchSpec,
    environment: Mapping[str, str],
    output: IO[bytes] | int,
    cgroup: Cgroup | None = None,
) -> subprocess.Popen[bytes]:
    """Start one function process (own process group) with exactly ``environment``; stdout/stderr to ``output``."""
    prefix = cgroup.join_prefix() if spec.sandboxed and cgroup is not None else []
    host_environment, inside_only = split_environment(spec, launch_environment(spec, environment))

    def popen(argv: list[str], extra_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*prefix, *argv],
            env=host_environment,
            cwd="/" if spec.sandboxed else spec.code_dir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
            close_fds=True,
            pass_fds=(spec.channel_fd, *extra_fds),
            process_group=0,  # stopping the environment ends the group (bwrap, or the unsandboxed interpreter's)
        )

    def start() -> subprocess.Popen[bytes]:
        if not spec.sandboxed or spec.gateway_port is None:
            return popen(command(spec, inside_only=inside_only))
        return _start_with_own_network(spec, popen, prefix, inside_only)

    with _LAUNCH_LOCK:
        return _LAUNCHER.submit(start).result()


class Closable(Protocol):
    """Our end of an environment's channel (a socket, or the executor's channel around one)."""

    def close(self) -> None: ...


def end_environment(
    label: str,
    process: subprocess.Popen[bytes] | None,
    cgroup: Cgroup | None = None,
    task_root: Path | None = None,
    channel: Closable | None = None,
) -> None:
    """End what ``launch`` started for one environment (or spare): SIGKILL its process group and reap it, kill
    what escaped the group (its cgroup), remove its spare task root, close our end of its channel."""
    if process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            LOG.warning("%s: process %s did not end after SIGKILL", label, process.pid)
    if cgroup is not None:
        cgroup.destroy()  # whatever escaped the process group (setsid, double fork) is still in the cgroup
    if task_root is not None:
        shutil.rmtree(task_root, ignore_errors=True)
    if channel is not None:
        channel.close()


def _start_with_own_network(
    spec: LaunchSpec, popen: Any, prefix: list[str], inside_only: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """bwrap in a new network namespace, held before the function starts until pasta has connected it.

    pasta gives the namespace user-mode networking: outbound connections leave through the host's sockets (as
    from a Lambda in a VPC with internet access), the namespace's 127.0.0.1:<gateway port> is forwarded to the
    host's loopback gateway (so ``AWS_ENDPOINT_URL`` works unchanged), nothing is forwarded inwards (a listener a
    function opens is reachable from nowhere but its own namespace), and the gateway address is not mapped to the
    host's loopback (no other host loopback service is reachable). pasta runs in the foreground in the
    environment's cgroups, with SIGKILL as parent-death signal: it ends with the environment and with LocalStack.
    """
    assert spec.gateway_port is not None
    info_read, info_write = os.pipe()
    block_read, block_write = os.pipe()
    network_args = ["--unshare-net", "--info-fd", str(info_write), "--block-fd", str(block_read)]
    try:
        process = popen(command(spec, network_args, inside_only), (info_write, block_read))
    finally:
        os.close(info_write)
        os.close(block_read)
    try:
        child = _read_child_pid(info_read)
        pasta = [
            shutil.which("setpriv") or "setpriv", "--pdeathsig", "KILL",
            shutil.which("pasta") or "pasta", "--foreground", "--quiet", "--runas", "0:0", "--config-net",
            "--no-map-gw", "-t", "none", "-u", "none", "-T", str(spec.gateway_port), "-U", "none",
            # The network namespace only: joining the sandbox's user namespace races with bwrap nesting a second
            # one (pasta would then lack privileges over the network namespace).
            "--netns", f"/proc/{child}/ns/net", "--netns-only",
        ]  # fmt: skip
        helper = subprocess.Popen(
            [*prefix, *pasta], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        NETWORK_HELPERS.add(helper)
        _wait_until_forwarding(child, spec.gateway_port, helper)
        os.write(block_write, b"1")
    except (OSError, ValueError) as error:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise OSError(f"cannot give the function its network namespace: {error}") from error
    finally:
        os.close(info_read)
        os.close(block_write)
    return process


class NetworkHelpers:
    """The pasta processes of running environments; each ends with its environment's cgroup and is reaped here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[subprocess.Popen[bytes]] = []

    def add(self, helper: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.append(helper)

    def reap(self) -> None:
        with self._lock:
            self._running = [helper for helper in self._running if helper.poll() is None]


NETWORK_HELPERS = NetworkHelpers()


def _wait_until_forwarding(child: int, port: int, helper: subprocess.Popen[bytes]) -> None:
    """Until the namespace listens on 127.0.0.1:<port> (pasta's forwarder): the function's first call must work."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + NETWORK_SETUP_TIMEOUT_S
    while True:
        try:
            table = Path(f"/proc/{child}/net/tcp").read_text()
        except OSError as error:
            raise OSError(f"the sandbox ended while being set up: {error}") from error
        if any(f" {wanted} 00000000:0000 0A " in line for line in table.splitlines()):
            return
        if helper.poll() is not None:
            detail = helper.stderr.read().decode(errors="replace").strip()[-300:] if helper.stderr else ""
            raise OSError(f"pasta exited ({helper.returncode}): {detail}")
        if time.monotonic() > deadline:
            helper.kill()
            raise OSError("pasta did not connect the network namespace in time")
        time.sleep(0.002)


def _read_child_pid(info_fd: int) -> int:
    """The sandbox's first process (host pid) from bwrap's --info-fd JSON."""
    data = b""
    deadline = time.monotonic() + NETWORK_SETUP_TIMEOUT_S
    while b"}" not in data:
        ready, _, _ = select.select([info_fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise OSError("bwrap did not report its sandbox in time")
        chunk = os.read(info_fd, 4096)
        if not chunk:
            raise OSError("bwrap exited before reporting its sandbox")
        data += chunk
    return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])


SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
}


def describe_exit(code: int | None, sandboxed: bool) -> str:
    """The runtime's exit as AWS words it (Go's os.ProcessState): ``signal: killed``, ``exit status 1``."""
    if code is None:
        return "unknown"
    if sandboxed and code > 128:  # bwrap exits with 128 + N when the function was killed by signal N
        code = -(code - 128)
    if code < 0:
        with contextlib.suppress(ValueError):
            return "signal: " + SIGNAL_WORDS.get(signal.Signals(-code), signal.Signals(-code).name)
        return f"signal: {-code}"
    return f"exit status {code}"


def fill_task_root(code_dir: Path, target: Path) -> None:
    """Make ``target`` (a spare's task root, bound read-only into its sandbox) hold the function's code.

    Hard links where possible (same file system: LocalStack's temp dir), copies otherwise; symlinks as they are
    (the guarded unzip only lets symlinks that stay inside the code directory through).
    """
    for source in sorted(code_dir.rglob("*")):
        destination = target / source.relative_to(code_dir)
        if source.is_symlink():
            destination.symlink_to(source.readlink())
        elif source.is_dir():
            destination.mkdir(exist_ok=True)
        else:
            try:
                os.link(source, destination)
            except OSError:
                shutil.copy2(source, destination)
