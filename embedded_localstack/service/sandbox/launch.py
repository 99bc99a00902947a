"""The one launcher of function processes: starting an environment (or spare) and ending it."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Protocol

from embedded_localstack.service.sandbox.bwrap import bwrap_call
from embedded_localstack.service.sandbox.cgroups import Cgroup
from embedded_localstack.service.sandbox.hostside import host_environment, sandbox_prefix
from embedded_localstack.service.sandbox.layout import LaunchSpec, launch_environment, runtime_command
from embedded_localstack.service.sandbox.network import NETWORK_HELPERS, start_with_own_network

LOG = logging.getLogger(__name__)

KILL_WAIT_S = 5.0  # for a SIGKILLed function process to be reaped


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
    """Start one function process (own process group) with exactly ``environment``; stdout/stderr to ``output``.

    Sandboxed, every process on the host side (the cgroup-joining shell, bwrap, pasta) starts with the fixed
    :func:`hostside.host_environment`: the function's variables reach the sandboxed process only (bwrap.py)."""
    environment = launch_environment(spec, environment)
    procs = cgroup.procs_files() if spec.sandboxed and cgroup is not None else []

    def popen(argv: list[str], env: Mapping[str, str], fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=env,
            cwd="/" if spec.sandboxed else spec.code_dir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
            close_fds=True,
            pass_fds=(spec.channel_fd, *fds),
            process_group=0,  # stopping the environment ends the group (bwrap, or the unsandboxed interpreter's)
        )

    def start_sandbox(network_args: Sequence[str] = (), fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
        call = bwrap_call(spec, environment, network_args)
        try:
            prefix = sandbox_prefix(spec.confinement, procs, spec.code_dir)
            return popen([*prefix, *call.argv], host_environment(), (*fds, *call.fds))
        finally:
            call.close()  # the child has its copies

    def start() -> subprocess.Popen[bytes]:
        if not spec.sandboxed:
            return popen(runtime_command(spec), environment)
        if spec.gateway_port is None:
            return start_sandbox()
        return start_with_own_network(spec, start_sandbox, procs, cgroup)

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
    if cgroup is not None:
        # Whatever escaped the process group (setsid, double fork) is still in the cgroup; a frozen environment's
        # processes die only once thawed, which destroy() does after killing them.
        cgroup.destroy()
    if process is not None:
        try:
            process.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            LOG.warning("%s: process %s did not end after SIGKILL", label, process.pid)
    if cgroup is not None:
        NETWORK_HELPERS.reap()  # the environment's pasta was inside: no zombie is left until the next start
    if task_root is not None:
        shutil.rmtree(task_root, ignore_errors=True)
    if channel is not None:
        channel.close()


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
    (the guarded unzip only lets symlinks that stay inside the code directory through); directories with their
    modes (set last, deepest first: a directory the sandbox user may not enter stays so, as in the code dir).
    """
    directories = []
    for source in sorted(code_dir.rglob("*")):
        destination = target / source.relative_to(code_dir)
        if source.is_symlink():
            destination.symlink_to(source.readlink())
        elif source.is_dir():
            destination.mkdir(exist_ok=True)
            directories.append((destination, stat.S_IMODE(source.stat().st_mode)))
        else:
            try:
                os.link(source, destination)
            except OSError:
                shutil.copy2(source, destination)
    for directory, mode in reversed(directories):
        directory.chmod(mode)
