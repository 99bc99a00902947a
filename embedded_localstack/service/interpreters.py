"""Map a Lambda runtime name (``python3.11``) to a real Python interpreter on the host.

Standard library only. The result is the *base* interpreter binary: a pyenv shim costs a shell and a
``pyenv`` lookup on every process start, and a virtualenv's python would carry the venv's identity; both
are resolved once by asking the candidate for ``sys._base_executable``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# How every function process is started (the executor and the benchmark's python floor share them):
# -I: no user site, no PYTHON* variables, no script dir on sys.path; -S: no site-packages at all;
# -B: leave the unzipped code untouched (AWS's /var/task is read-only); -u: output reaches the log at once.
INTERPRETER_FLAGS = ("-I", "-S", "-B", "-u")
PYTHON_RUNTIME = re.compile(r"^python(?P<major>3)\.(?P<minor>\d+)$")
PROBE_TIMEOUT_S = 15.0
PROBE_SCRIPT = (
    "import json, sys; print(json.dumps({'version': list(sys.version_info[:2]),"
    " 'base': getattr(sys, '_base_executable', '') or sys.executable}))"
)


class InterpreterError(Exception):
    """The runtime is not supported or no matching interpreter exists on this host."""


def runtime_version(runtime: str | None) -> tuple[int, int]:
    """``python3.8`` -> (3, 8); (0, 0) for a runtime that is not python3.x."""
    match = PYTHON_RUNTIME.match(runtime or "")
    return (int(match["major"]), int(match["minor"])) if match else (0, 0)


def override_variable(runtime: str) -> str:
    """Environment variable that names the interpreter for ``runtime``, e.g. EMBEDDED_LAMBDA_PYTHON3_11."""
    return "EMBEDDED_LAMBDA_" + re.sub(r"[^A-Z0-9]", "_", runtime.upper())


class InterpreterResolver:
    """Resolves and caches runtime → interpreter; one instance per LocalStack process."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self._resolved: dict[str, Path] = {}

    def resolve(self, runtime: str | None) -> Path:
        if runtime in self._resolved:
            return self._resolved[runtime]
        match = PYTHON_RUNTIME.match(runtime or "")
        if not match:
            raise InterpreterError(
                f"runtime {runtime!r} is not supported by the local-process Lambda executor "
                "(it runs python3.x functions only; use LocalStack in Docker for other runtimes)"
            )
        wanted = (int(match["major"]), int(match["minor"]))
        interpreter = self._first_working(runtime, wanted)
        log.info("runtime %s -> %s", runtime, interpreter)
        self._resolved[runtime] = interpreter
        return interpreter

    def _first_working(self, runtime: str, wanted: tuple[int, int]) -> Path:
        """The override if set; else ``python3.X`` on PATH, then pyenv's installed 3.X versions (a pyenv shim only
        runs the versions pyenv has selected, so it fails for the others)."""
        variable = override_variable(runtime)
        if explicit := self._environ.get(variable):
            return self._probe(runtime, explicit, wanted)
        on_path = shutil.which(runtime, path=self._environ.get("PATH", os.defpath))
        candidates = [c for c in (on_path, *self._pyenv_candidates(wanted)) if c]
        if not candidates:
            raise InterpreterError(
                f"runtime {runtime} needs a Python {runtime[6:]} interpreter on the host, but '{runtime}' is not "
                f"on PATH; install it or set {variable}=/path/to/{runtime} before starting the embedded LocalStack"
            )
        failures: list[InterpreterError] = []
        for candidate in candidates:
            try:
                return self._probe(runtime, candidate, wanted)
            except InterpreterError as error:
                failures.append(error)
        raise failures[0]

    def _pyenv_candidates(self, wanted: tuple[int, int]) -> list[str]:
        """pyenv's own binaries of Python ``wanted`` (newest patch first), under $PYENV_ROOT or ~/.pyenv."""
        home = self._environ.get("HOME")
        root = self._environ.get("PYENV_ROOT") or (str(Path(home) / ".pyenv") if home else "")
        if not root:
            return []
        major, minor = wanted
        found = Path(root).glob(f"versions/{major}.{minor}.*/bin/python{major}.{minor}")

        def patch_level(path: Path) -> tuple[int, ...]:
            version = path.parent.parent.name.split(".")
            return tuple(int(part) if part.isdigit() else -1 for part in version)

        return [str(path) for path in sorted(found, key=patch_level, reverse=True)]

    def _probe(self, runtime: str, candidate: str, wanted: tuple[int, int]) -> Path:
        variable = override_variable(runtime)
        try:
            completed = subprocess.run(
                [candidate, "-I", "-S", "-c", PROBE_SCRIPT],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
                env={"PATH": self._environ.get("PATH", os.defpath), "HOME": self._environ.get("HOME", "/")},
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise InterpreterError(
                f"runtime {runtime}: interpreter {candidate} cannot be run ({error}); set {variable} to a working "
                f"Python {wanted[0]}.{wanted[1]}"
            ) from error
        if completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
            raise InterpreterError(
                f"runtime {runtime}: interpreter {candidate} failed (exit {completed.returncode}: {detail[0]}); "
                f"set {variable} to a working Python {wanted[0]}.{wanted[1]}"
            )
        facts = json.loads(completed.stdout)
        found = tuple(facts["version"])
        if found != wanted:
            raise InterpreterError(
                f"runtime {runtime}: {candidate} is Python {found[0]}.{found[1]}, not {wanted[0]}.{wanted[1]}"
            )
        return Path(facts["base"])
