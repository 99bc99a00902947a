"""What runs on the host, outside every namespace, to start a sandbox: its environment, its uid and its files.

Nothing of a function reaches these processes (the cgroup-joining shell, nsenter/unshare/mount, setpriv, bwrap,
pasta): they start with :func:`host_environment`, a fixed allow-list; the function's variables go to bwrap in its
``--args`` descriptor and are set inside the sandbox only (bwrap.py).

When LocalStack runs as root, the function's uid 993 is not root on the host: the shell prefix (as root) joins the
environment's cgroups and mounts its code, then ``setpriv`` execs bwrap as :class:`HostUser` (by default
1900000993:1900000990, ``EMBEDDED_LAMBDA_SANDBOX_USER=UID:GID``), so the sandbox's user namespace maps 993 to that
uid. It owns no file on the host; it can read what is world-readable, like any other user.

That uid may not traverse LocalStack's 0700 state dir nor root's home (pyenv), and a bind mount shows its source's
host path in ``/proc/self/mountinfo``. So the sources are *staged* (:class:`Stage`): a mount namespace of
LocalStack's own (held by a descriptor, no process) with a small tmpfs on ``/mnt`` in which each host directory
the sandbox needs (interpreter, runtime packages, our runtime loop; per environment its code) is bind-mounted by
root and shown through a read-only overlay whose layers are named ``lang``, ``site-packages``, ``runtime``,
``task``. bwrap binds the overlay: the sandbox's mountinfo shows the overlay's root and those names, no host path.
Standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)

HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
HOST_USER_VARIABLE = "EMBEDDED_LAMBDA_SANDBOX_USER"
DEFAULT_HOST_USER = (1_900_000_993, 1_900_000_990)
"""Between systemd's container range (524288-1879048191) and its foreign range (2147352576 and up), below 2^31."""
STAGE_MOUNTPOINT = Path("/mnt")
"""Where the stage's tmpfs is mounted, in the stage's mount namespace only (the host's /mnt is untouched)."""
TASK_SLOT = "task"
"""The stage's directory for an environment's code, mounted in that environment's own copy of the namespace."""
STAGE_TIMEOUT_S = 15.0


def host_environment() -> dict[str, str]:
    """The whole environment of every host-side process of a sandbox (bwrap's own directory first on PATH)."""
    bwrap = shutil.which("bwrap")
    directories = [str(Path(bwrap).parent)] if bwrap else []
    directories += [d for d in HOST_PATH.split(":") if d not in directories]
    return {"PATH": ":".join(directories)}


# -- the uid behind 993 ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostUser:
    """The host uid/gid the sandbox's 993/990 map to (LocalStack as root only)."""

    uid: int
    gid: int

    def setpriv(self) -> list[str]:
        """setpriv's options that become this user with nothing else: no groups, capabilities or new privileges."""
        return [
            "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs",
        ]  # fmt: skip


def host_user(environ: Mapping[str, str] | None = None) -> HostUser:
    """``EMBEDDED_LAMBDA_SANDBOX_USER=UID:GID`` or the default; a malformed value or root is an error."""
    value = (os.environ if environ is None else environ).get(HOST_USER_VARIABLE, "").strip()
    if not value:
        return HostUser(*DEFAULT_HOST_USER)
    uid, separator, gid = value.partition(":")
    if not (separator and uid.isdigit() and gid.isdigit()) or int(uid) == 0 or int(gid) == 0:
        raise ValueError(f"{HOST_USER_VARIABLE} must be UID:GID of an unprivileged host user, not {value!r}")
    return HostUser(int(uid), int(gid))


# -- the stage -------------------------------------------------------------------------------------------------
_CREATE_STAGE = """set -e
mount -n -t tmpfs -o nosuid,noexec,mode=0755,size=1m embedded-lambda "$1"
mkdir -p "$1/$2/$2" "$1/$2/empty" "$1/$2/view"
if [ -n "$3" ]; then
  mknod -m 0600 "$1/tun" c "$3" "$4"; chown "$5" "$1/tun"; mount -n --bind "$1/tun" /dev/net/tun
fi
echo ready
exec cat >/dev/null"""
_STAGE_DIRECTORY = """set -e
mkdir -p "$1/$2" "$1/empty" "$1/view"
mount -n --bind -- "$3" "$1/$2"
cd "$1"
exec mount -n -t overlay -o "ro,lowerdir=$2:empty" overlay view"""


class Stage:
    """LocalStack's staging mount namespace (see the module's docstring); root only. Thread-safe."""

    def __init__(self, user: HostUser) -> None:
        self.user = user
        self._lock = threading.Lock()
        self._staged: dict[Path, Path] = {}
        tun = Path("/dev/net/tun")
        device = tun.stat().st_rdev if tun.exists() and stat.S_ISCHR(tun.stat().st_mode) else None
        numbers = [str(os.major(device)), str(os.minor(device))] if device is not None else ["", ""]
        owner = f"{user.uid}:{user.gid}"
        # A short-lived process makes the namespace; the descriptor opened on it keeps it (and its mounts) until
        # LocalStack exits, however it exits: nothing is left on the host.
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _CREATE_STAGE, "stage",
             str(STAGE_MOUNTPOINT), TASK_SLOT, *numbers, owner],
            env=host_environment(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None and process.stdin is not None
            if process.stdout.readline() != b"ready\n":
                process.wait(STAGE_TIMEOUT_S)
                detail = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                raise OSError(f"cannot make the sandbox's staging namespace: {detail or process.returncode}")
            self._fd = os.open(f"/proc/{process.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(STAGE_TIMEOUT_S)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()

    def enter(self) -> list[str]:
        """The command prefix that runs what follows in the stage's mount namespace (nsenter, as root)."""
        return ["nsenter", f"--mount=/proc/{os.getpid()}/fd/{self._fd}", "--"]

    def view(self, host_dir: Path, name: str) -> str:
        """Where ``host_dir`` is seen read-only through an overlay whose layer is called ``name`` (staged once)."""
        with self._lock:
            if host_dir not in self._staged:
                key = hashlib.sha256(str(host_dir).encode()).hexdigest()[:16]
                directory = STAGE_MOUNTPOINT / key
                self._run(_STAGE_DIRECTORY, str(directory), name, str(host_dir))
                self._staged[host_dir] = directory / "view"
            return str(self._staged[host_dir])

    def task_view(self) -> str:
        """Where an environment's code is seen, once :func:`sandbox_prefix` mounted it in its own namespace."""
        return str(STAGE_MOUNTPOINT / TASK_SLOT / "view")

    def _run(self, script: str, *arguments: str) -> None:
        completed = subprocess.run(
            [*self.enter(), "/bin/sh", "-c", script, "stage", *arguments],
            env=host_environment(), capture_output=True, text=True, timeout=STAGE_TIMEOUT_S, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            raise OSError(f"cannot stage {arguments[-1]} for the sandbox: {completed.stderr.strip()[-300:]}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


# -- how sandboxes are confined on this host -------------------------------------------------------------------
@dataclass(frozen=True)
class Confinement:
    """Decided once per LocalStack (mode.py): the host user behind 993 and its stage (root only), the seccomp
    filter (None on an architecture whose system call numbers are not known here)."""

    user: HostUser | None = None
    stage: Stage | None = None
    seccomp: bytes | None = None

    def __post_init__(self) -> None:
        if self.user is not None and self.stage is None:
            raise ValueError("an unprivileged host user needs the stage: it cannot reach the host's sources")


NO_CONFINEMENT = Confinement()

_JOIN_AND_MOUNT = (
    'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 126; shift; done; shift\n'
    'if [ "$1" != - ]; then\n'
    '  mount -n --bind -- "$2" "$1/task" || exit 126\n'
    '  (cd "$1" && exec mount -n -t overlay -o ro,lowerdir=task:empty overlay view) || exit 126\n'
    "fi\n"
    'shift 2; exec "$@"'
)
"""Join the cgroups (their ``cgroup.procs`` files, up to ``--``), mount the environment's code in this
environment's copy of the stage (unless ``-``), then exec the rest: one pid throughout, so bwrap is in the cgroups.
Data only as arguments: no variable of the function, no text of it in the script."""


def sandbox_prefix(confinement: Confinement, procs: Sequence[Path], code_dir: Path) -> list[str]:
    """What runs before bwrap: joining the cgroups, the environment's own mount namespace with its code staged,
    the uid change. Empty when there is nothing to do (no cgroups, no stage)."""
    stage, user = confinement.stage, confinement.user
    if stage is None and not procs:
        return [*user.setpriv(), "--"] if user is not None else []
    slot = str(STAGE_MOUNTPOINT / TASK_SLOT) if stage is not None else "-"
    prefix = [*stage.enter(), "unshare", "--mount", "--"] if stage is not None else []
    prefix += ["/bin/sh", "-c", _JOIN_AND_MOUNT, "sh", *map(str, procs), "--", slot, str(code_dir)]
    return prefix + ([*user.setpriv(), "--"] if user is not None else [])


def helper_prefix(confinement: Confinement, procs: Sequence[Path], as_sandbox_user: bool) -> list[str]:
    """What runs before pasta (setpriv's options follow): joining the cgroups, then, ``as_sandbox_user`` with a
    host user, the stage's mount namespace (where /dev/net/tun is a node that user may open) and that user."""
    prefix = ["/bin/sh", "-c", _JOIN_AND_MOUNT, "sh", *map(str, procs), "--", "-", "-"] if procs else []
    if as_sandbox_user and confinement.user is not None and confinement.stage is not None:
        return [*prefix, *confinement.stage.enter(), *confinement.user.setpriv()]
    return [*prefix, "setpriv"]
