"""bubblewrap's command line for one function process: namespaces, mounts, seccomp, the function's variables.

Everything but the command goes to bwrap through descriptors (``--args``, ``--seccomp``, ``--ro-bind-data``), so
its argv, which the sandbox's pid 1 keeps and the function can read as ``/proc/1/cmdline``, is ``bwrap --args N --
<the runtime's command>``: no host path, no variable of the function. The function's variables are set with
``--clearenv`` and ``--setenv`` while bwrap parses its arguments: they reach the sandboxed process only, never the
environment bwrap (or anything before it) was started with.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from embedded_localstack.service.sandbox.layout import (
    SANDBOX_GID,
    SANDBOX_TASK_ROOT,
    SANDBOX_UID,
    LaunchSpec,
    runtime_command,
)
from embedded_localstack.service.sandbox.view import (
    DEVICE_LINKS,
    DEVICES,
    EMPTY_DIRS,
    TMP,
    Bind,
    data_files,
    runtime_binds,
    system_binds,
    top_level_links,
)


def namespace_args(seccomp: bool = True) -> list[str]:
    """Namespaces and identity. Without a seccomp filter, ``--disable-userns`` keeps the function from making
    user namespaces (it nests a second one); with the filter, which refuses that itself, the sandbox keeps one
    user namespace, which pasta can join."""
    return [
        "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", "localhost",
        "--die-with-parent", "--new-session", *([] if seccomp else ["--disable-userns"]),
    ]  # fmt: skip


def system_mounts() -> list[str]:
    """/usr and its links, /proc, a /dev of character devices (no shm, no pts), CA certificates."""
    args = binds(system_binds())
    for link, target in top_level_links().items():
        args += ["--symlink", target, link]
    args += ["--proc", "/proc", "--dir", "/dev"]
    for name in DEVICES:
        args += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    for link, target in DEVICE_LINKS.items():
        args += ["--symlink", target, link]
    return args


def binds(mounts: Iterable[Bind], sources: Mapping[str, str] | None = None) -> list[str]:
    """Read-only binds; ``sources`` replaces a bind's host path (by its place inside) with its staged view."""
    args: list[str] = []
    for bind in mounts:
        args += ["--ro-bind", (sources or {}).get(bind.inside, str(bind.host)), bind.inside]
    return args


def runtime_mounts(spec: LaunchSpec) -> list[str]:
    """Interpreter, runtime packages, runtime loop and code: through the stage when there is one (hostside.py)."""
    stage = spec.confinement.stage
    mounts = runtime_binds(spec)
    if stage is None:
        return binds(mounts)
    sources = {b.inside: stage.view(b.host, b.layer) for b in mounts if b.inside != SANDBOX_TASK_ROOT}
    return binds(mounts, {**sources, SANDBOX_TASK_ROOT: stage.task_view()})


def writable_tmp(spec: LaunchSpec) -> list[str]:
    """The sandbox's /tmp, capped at EphemeralStorage, is its one writable place; the rest (/, /etc, /var, /opt,
    /dev) is read-only, as on AWS. The last of the mounts: nothing can be created in the root after it."""
    args = [arg for directory in EMPTY_DIRS if directory != "/dev" for arg in ("--dir", directory)]
    return [*args, "--size", str(spec.tmp_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", TMP, "--remount-ro", "/"]


def environment_args(environment: Mapping[str, str]) -> list[str]:
    args = ["--clearenv"]
    for name, value in sorted(environment.items()):
        args += ["--setenv", name, value]
    return args


@dataclass
class BwrapCall:
    """bwrap's argv and the descriptors it reads (memfds, closed here once the process has its copies)."""

    argv: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def data(self, content: bytes) -> str:
        """A descriptor bwrap reads ``content`` from (its number, as an argument)."""
        fd = os.memfd_create("bwrap", os.MFD_CLOEXEC)
        self.fds.append(fd)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        return str(fd)

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def bwrap_call(spec: LaunchSpec, environment: Mapping[str, str], network_args: Sequence[str] = ()) -> BwrapCall:
    """The call that starts ``spec``'s sandbox with exactly ``environment`` inside."""
    call = BwrapCall()
    try:
        seccomp = spec.confinement.seccomp
        args = [*namespace_args(seccomp is not None), *network_args, *system_mounts(), *runtime_mounts(spec)]
        for inside, content in data_files().items():
            args += ["--ro-bind-data", call.data(content), inside]
        args += writable_tmp(spec)
        if seccomp is not None:
            args += ["--seccomp", call.data(seccomp)]
        args += [*environment_args(environment), "--chdir", SANDBOX_TASK_ROOT]
        call.argv = ["bwrap", "--args", call.data(encode_arguments(args)), "--", *runtime_command(spec)]
    except BaseException:
        call.close()
        raise
    return call


def encode_arguments(args: Sequence[str]) -> bytes:
    """``--args``'s format: each argument NUL-terminated. A NUL inside one (in a variable's value) would split it
    into arguments of bwrap's own: refused."""
    encoded = [arg.encode() for arg in args]
    if any(b"\0" in arg for arg in encoded):
        raise ValueError("a sandbox argument (a variable's name or value?) contains a NUL byte")
    return b"".join(arg + b"\0" for arg in encoded)
