"""What an execution environment looks like from inside: AWS's paths, identity and variables, and the
runtime's command line as the function sees it. Standard library only."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from embedded_localstack.runtime.bootstrap import CHANNEL_FD_VARIABLE, PACKAGES_VARIABLE
from embedded_localstack.runtime_packages import packages_dir, sandbox_packages_dir
from embedded_localstack.service.interpreters import INTERPRETER_FLAGS
from embedded_localstack.service.sandbox.hostside import NO_CONFINEMENT, Confinement

LOG = logging.getLogger(__name__)

EXEC_WRAPPER_VARIABLE = "AWS_LAMBDA_EXEC_WRAPPER"
"""AWS runs ``<wrapper> <runtime command...>`` when a function sets it; see :func:`runtime_command`."""
RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
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
# AWS's user database inside an execution environment: pwd.getpwuid(993) is sbx_user1051 (Path.home() works).
IDENTITY_FILES = {
    "passwd": "root:x:0:0:root:/root:/sbin/nologin\n"
    f"sbx_user1051:x:{SANDBOX_UID}:{SANDBOX_GID}::/home/sbx_user1051:/sbin/nologin\n",
    "group": f"root:x:0:\nsbx_user1051:x:{SANDBOX_GID}:\n",
}


# Variables the dynamic loader, libc or the interpreter read while the process starts: a spare started without
# them (or with other values) would not be equivalent to a fresh process, so such a function gets a fresh one.
STARTUP_PREFIXES = ("LD_", "MALLOC_", "GLIBC_", "LC_", "PYTHON")
STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS",
                           "TMPDIR", "LOCALDOMAIN", EXEC_WRAPPER_VARIABLE})  # fmt: skip


def is_startup_variable(name: str) -> bool:
    return name in STARTUP_NAMES or name.startswith(STARTUP_PREFIXES)


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
    confinement: Confinement = NO_CONFINEMENT
    """Sandboxed: the host user, stage and seccomp filter of this LocalStack's sandboxes (hostside.py)."""


def interpreter_prefix(interpreter: Path) -> Path:
    """The installation the interpreter belongs to (``<prefix>/bin/python3.X``), bound at /var/lang.

    Resolved first: on a merged-/usr host ``/bin/python3.X`` would otherwise make the prefix ``/`` and show the
    whole host filesystem at /var/lang."""
    prefix = interpreter.resolve().parent.parent
    if prefix == Path(prefix.anchor):
        raise OSError(f"interpreter {interpreter} has no installation prefix of its own to bind at /var/lang")
    return prefix


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
