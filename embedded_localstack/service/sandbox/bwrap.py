"""bubblewrap's command line for one function process: namespaces, mounts, and the variables set inside only."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

from embedded_localstack.runtime_packages import packages_dir, sandbox_packages_dir
from embedded_localstack.service.sandbox.layout import (
    RUNTIME_DIR,
    SANDBOX_GID,
    SANDBOX_LANG_DIR,
    SANDBOX_RUNTIME_DIR,
    SANDBOX_TASK_ROOT,
    SANDBOX_UID,
    LaunchSpec,
    identity_files,
    interpreter_prefix,
    is_startup_variable,
    runtime_command,
)

LOG = logging.getLogger(__name__)

HOST_ETC_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/ssl/certs", "/etc/ssl/openssl.cnf",
                  "/etc/ca-certificates", "/etc/localtime")  # fmt: skip


def namespace_args() -> list[str]:
    return [
        "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", "localhost",
        "--die-with-parent", "--new-session", "--disable-userns",
    ]  # fmt: skip


def base_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "bin", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            args += ["--symlink", str(link.readlink()), f"/{name}"]
        elif link.is_dir():
            args += ["--ro-bind", str(link), f"/{name}"]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def command(
    spec: LaunchSpec, network_args: list[str] | None = None, inside_only: Mapping[str, str] | None = None
) -> list[str]:
    """The full command line of one function process (sandboxed or not); ``inside_only`` are variables bwrap sets
    inside the sandbox only (see :func:`split_environment`)."""
    if not spec.sandboxed:
        return runtime_command(spec)
    prefix = interpreter_prefix(spec.interpreter)
    args = [shutil.which("bwrap") or "bwrap", *namespace_args(), *(network_args or []), *base_mounts()]
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
