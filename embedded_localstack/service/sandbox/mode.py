"""Whether functions run sandboxed: the requested mode, the probes of bubblewrap and pasta, the fallback."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping

from embedded_localstack.service.sandbox.bwrap import base_mounts, namespace_args

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


def probe_bwrap() -> str | None:
    """None if bubblewrap can build an execution environment here, else why not (one probe, ~25 ms)."""
    if os.uname().sysname != "Linux":
        return "the sandbox needs Linux namespaces"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (the Makefile does it as root)"
    command = [bwrap, *namespace_args(), *base_mounts(), "--", "/usr/bin/true"]
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
