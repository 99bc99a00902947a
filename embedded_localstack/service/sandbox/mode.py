"""Whether functions run sandboxed: the requested mode, the probes of bubblewrap and pasta, the fallback."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from embedded_localstack.service.sandbox.bwrap import BwrapCall, namespace_args, system_mounts
from embedded_localstack.service.sandbox.hostside import Confinement, Stage, host_environment, host_user
from embedded_localstack.service.sandbox.seccomp import filter_for, machine

LOG = logging.getLogger(__name__)

MODE_VARIABLE = "EMBEDDED_LAMBDA_SANDBOX"
MODES = ("auto", "bwrap", "off")
PROBE_TIMEOUT_S = 15.0


class SandboxUnavailableError(RuntimeError):
    """``EMBEDDED_LAMBDA_SANDBOX=bwrap`` was asked for but bubblewrap cannot run here; the message says how."""


# -- mode ------------------------------------------------------------------------------------------------------
def requested_mode(environ: Mapping[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def probe_bwrap(prefix: Sequence[str] = (), seccomp: bytes | None = None) -> str | None:
    """None if bubblewrap can build an execution environment here (after ``prefix``, e.g. setpriv, and with this
    seccomp filter), else why not (one probe, ~25 ms)."""
    if os.uname().sysname != "Linux":
        return "the sandbox needs Linux namespaces"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (the Makefile does it as root)"
    call = BwrapCall()
    try:
        filter_args = ["--seccomp", call.data(seccomp)] if seccomp is not None else []
        command = [*prefix, "bwrap", *namespace_args(seccomp is not None), *system_mounts(), *filter_args, "--",
                   "/usr/bin/true"]  # fmt: skip
        completed = subprocess.run(command, env=host_environment(), capture_output=True, text=True,
                                   timeout=PROBE_TIMEOUT_S, check=False, pass_fds=call.fds)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap cannot run: {error}"
    finally:
        call.close()
    if completed.returncode != 0:
        return f"bwrap failed (exit {completed.returncode}): {completed.stderr.strip()[-300:]}"
    return None


def user_namespaces_problem(limit: Path = Path("/proc/sys/user/max_user_namespaces")) -> str | None:
    """Why an unprivileged user cannot make the sandbox's user namespace, as far as the sysctl tells, or None."""
    try:
        if int(limit.read_text()) == 0:
            return f"{limit} is 0: unprivileged user namespaces are off"
    except (OSError, ValueError):
        return None  # no such sysctl: the probe tells
    return None


def resolve_confinement(environ: Mapping[str, str] | None = None) -> Confinement:
    """How this LocalStack's sandboxes are confined beyond bwrap's namespaces (bwrap is known to work): the
    seccomp filter, and as root the unprivileged host user behind uid 993 with its stage. What cannot be had
    here is logged as a warning and left out; a malformed ``EMBEDDED_LAMBDA_SANDBOX_USER`` is an error."""
    seccomp = filter_for(machine())
    if seccomp is not None and (problem := probe_bwrap(seccomp=seccomp)) is not None:
        LOG.warning("embedded Lambda sandbox without its seccomp filter (the kernel refused it): %s", problem)
        seccomp = None
    if os.geteuid() != 0:
        return Confinement(seccomp=seccomp)
    user = host_user(environ)
    if seccomp is None:  # bwrap then nests a second user namespace, which pasta can only enter as root
        problem: str | None = "no seccomp filter, so bwrap keeps --disable-userns and pasta must run as root"
    else:
        problem = user_namespaces_problem() or probe_bwrap([*user.setpriv(), "--"], seccomp)
    if problem is None:
        try:
            return Confinement(user, Stage(user), seccomp)
        except OSError as error:
            problem = str(error)
    LOG.warning(
        "embedded Lambda sandbox: functions' uid 993 maps to root on the host (no unprivileged user %s:%s: %s)",
        user.uid, user.gid, problem,
    )  # fmt: skip
    return Confinement(seccomp=seccomp)


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
