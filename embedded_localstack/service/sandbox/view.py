"""The file system a sandboxed function sees, as data: what is bound from the host, the links and files made for
it, the empty directories. bwrap.py turns it into bubblewrap's mounts; :meth:`SandboxView.exec_problem` resolves a
path in it the way the kernel will inside (so an exec wrapper's error never depends on the host's own files).

Read-only everywhere but ``/tmp`` (a tmpfs of EphemeralStorage); ``/dev`` has the usual character devices and no
``shm`` (AWS Lambda has no ``/dev/shm``). Standard library only.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from embedded_localstack.runtime_packages import packages_dir, sandbox_packages_dir
from embedded_localstack.service.sandbox.layout import (
    IDENTITY_FILES,
    RUNTIME_DIR,
    SANDBOX_LANG_DIR,
    SANDBOX_RUNTIME_DIR,
    SANDBOX_TASK_ROOT,
    LaunchSpec,
    host_location,
    interpreter_prefix,
)

HOST_ETC_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/ssl/openssl.cnf", "/etc/localtime")
"""Copied into the sandbox (their content, not a bind: no host path of theirs shows in its mountinfo)."""
HOST_ETC_DIRS = ("/etc/ssl/certs", "/etc/ca-certificates")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEVICE_LINKS = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
                "/dev/stderr": "/proc/self/fd/2"}  # fmt: skip
EMPTY_DIRS = ("/dev", "/opt")
TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs
OPAQUE = ("/proc",)
"""Resolved by the kernel only (the sandbox's own /proc)."""
MAX_SYMLINKS = 40


@dataclass(frozen=True)
class Bind:
    """A host directory seen read-only at ``inside``; ``layer``: its name when staged (hostside.Stage)."""

    inside: str
    host: Path
    layer: str = ""


def system_binds() -> list[Bind]:
    """/usr, the top-level library and binary directories that are not links into it, CA certificates."""
    binds = [Bind("/usr", Path("/usr"))]
    for name in ("lib", "lib64", "bin", "sbin"):
        path = Path("/") / name
        if path.is_dir() and not path.is_symlink():
            binds.append(Bind(str(path), path))
    return binds + [Bind(path, Path(path)) for path in HOST_ETC_DIRS if Path(path).is_dir()]


def top_level_links() -> dict[str, str]:
    """The host's merged-/usr links (``/lib -> usr/lib``), made the same inside."""
    links = {}
    for name in ("lib", "lib64", "bin", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            links[str(path)] = str(path.readlink())
    return links


def runtime_binds(spec: LaunchSpec) -> list[Bind]:
    """The interpreter at /var/lang, the runtime packages, our runtime loop at /var/runtime, the code at /var/task."""
    binds = [Bind(SANDBOX_LANG_DIR, interpreter_prefix(spec.interpreter), "lang")]
    host_packages = packages_dir(spec.runtime)
    if host_packages.is_dir():
        binds.append(Bind(sandbox_packages_dir(spec.runtime), host_packages, "site-packages"))
    return [*binds, Bind(SANDBOX_RUNTIME_DIR, RUNTIME_DIR, "runtime"), Bind(SANDBOX_TASK_ROOT, spec.code_dir, "task")]


def data_files() -> dict[str, bytes]:
    """Files made inside from content: AWS's user database, and the resolver's, TLS's and the clock's files."""
    files = {f"/etc/{name}": content.encode() for name, content in IDENTITY_FILES.items()}
    for path in HOST_ETC_FILES:
        try:
            files[path] = Path(path).read_bytes()
        except OSError:
            continue
    return files


def may(status: os.stat_result, uid: int, gid: int, bit: int) -> bool:
    """Whether a process of ``uid``/``gid`` without capabilities has permission ``bit`` (``stat.S_IXOTH``-style,
    other's bit) on a file: the owner's, the group's or the others' bits, as the kernel checks them."""
    if status.st_uid == uid:
        return bool(status.st_mode & (bit << 6))
    if status.st_gid == gid:
        return bool(status.st_mode & (bit << 3))
    return bool(status.st_mode & bit)


class SandboxView:
    """One environment's file system as its process will see it."""

    def __init__(self, spec: LaunchSpec) -> None:
        self.binds = sorted(system_binds() + runtime_binds(spec), key=lambda b: len(b.inside), reverse=True)
        self.links = top_level_links() | DEVICE_LINKS
        self.files = set(data_files()) | {f"/dev/{name}" for name in DEVICES}
        made = [b.inside for b in self.binds] + list(self.links) + list(self.files) + [*EMPTY_DIRS, TMP]
        self.dirs = {"/", *EMPTY_DIRS, TMP}
        for path in made:
            self.dirs.update(str(parent) for parent in PurePosixPath(path).parents)

    def host_path(self, inside: PurePosixPath) -> Path | None:
        for bind in self.binds:
            if inside.is_relative_to(bind.inside):
                return bind.host / inside.relative_to(bind.inside)
        return None

    def exec_problem(self, path: str, uid: int, gid: int) -> str | None:
        """Why ``execve(path)`` fails inside for the sandbox user (host ``uid``/``gid``), in the kernel's words
        (``no such file or directory``, ``permission denied``, ``not a directory``), or None."""
        parts = list(PurePosixPath(path).parts[1:])
        current, hops = PurePosixPath("/"), 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                current = current.parent
                continue
            candidate = current / part
            if any(candidate.is_relative_to(opaque) for opaque in OPAQUE):
                return None
            link = self.links.get(str(candidate))
            host = self.host_path(candidate) if link is None else None
            if host is not None:
                try:
                    status = os.lstat(host)
                except FileNotFoundError:
                    return "no such file or directory"
                except NotADirectoryError:
                    return "not a directory"
                if stat.S_ISLNK(status.st_mode):
                    link = str(host.readlink())
            if link is not None:
                hops += 1
                if hops > MAX_SYMLINKS:
                    return "too many levels of symbolic links"
                target = PurePosixPath(link)
                current = PurePosixPath("/") if target.is_absolute() else current
                parts = [p for p in target.parts if p != "/"] + parts
                continue
            if host is None:
                if str(candidate) in self.dirs:
                    current = candidate
                    continue
                if str(candidate) in self.files:
                    return "not a directory" if parts else "permission denied"
                return "no such file or directory"
            if parts:
                if not stat.S_ISDIR(status.st_mode):
                    return "not a directory"
                if not may(status, uid, gid, stat.S_IXOTH):
                    return "permission denied"
                current = candidate
                continue
            if not stat.S_ISREG(status.st_mode) or not may(status, uid, gid, stat.S_IXOTH):
                return "permission denied"
            return None
        return "permission denied"  # a directory (the path ended in one)


def wrapper_problem(spec: LaunchSpec) -> str | None:
    """Why the exec wrapper cannot be started, in the words of AWS's ``fork/exec`` error, or None. Sandboxed, the
    path is resolved in the sandbox's own view only: whether it exists on the host makes no difference."""
    if not spec.exec_wrapper or not spec.exec_wrapper.startswith("/"):
        return None  # a bare name is looked up on PATH when the wrapper is executed
    if spec.sandboxed:
        user = spec.confinement.user
        uid, gid = (user.uid, user.gid) if user is not None else (os.geteuid(), os.getegid())
        problem = SandboxView(spec).exec_problem(spec.exec_wrapper, uid, gid)
    else:
        problem = host_exec_problem(host_location(spec, spec.exec_wrapper))
    return None if problem is None else f"fork/exec {spec.exec_wrapper}: {problem}"


def host_exec_problem(found: Path | None) -> str | None:
    """The same for a process of LocalStack's own user on the host (the sandbox is off)."""
    if found is None or not found.exists():
        return "no such file or directory"
    if found.is_dir() or not os.access(found, os.X_OK):
        return "permission denied"
    return None
