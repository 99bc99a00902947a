"""Where the packages every AWS Python runtime ships (boto3, botocore and their dependencies) live for the
embedded executor, and where a function sees them.

AWS puts boto3/botocore on ``sys.path`` after ``/var/task`` and ``/opt`` (a function's own bundled copy wins).
Here they are installed once, per runtime, next to LocalStack's interpreter: ``<LocalStack venv>/lambda-runtime/
<runtime>/`` (for example ``.venv-localstack/lambda-runtime/python3.11``), so any provisioned LocalStack
environment carries them. Inside the sandbox the directory is bound read-only at AWS's path,
``/var/lang/lib/<runtime>/site-packages``. Standard library only (imported by the executor inside LocalStack).

What is installed is an exact lock, ``requirements/lambda-runtime-<runtime>.lock`` (package data, compiled from the
``.in`` next to it by ``make lock``). ``make venv`` installs it with :func:`install`; so can any code that
provisions a LocalStack venv of its own.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

REQUIREMENTS_DIR = Path(__file__).resolve().parent / "requirements"
INSTALL_TIMEOUT_S = 600.0
RUNTIME_PACKAGES_DIRNAME = "lambda-runtime"
SANDBOX_SITE_PACKAGES = "/var/lang/lib/{runtime}/site-packages"
"""Mount point of the runtime packages inside the sandbox (AWS's location for python3.x runtimes)."""


def packages_dir(runtime: str, prefix: Path | None = None) -> Path:
    """Host directory with the runtime packages for ``runtime`` (may not exist: then functions get none)."""
    return (Path(sys.prefix) if prefix is None else prefix) / RUNTIME_PACKAGES_DIRNAME / runtime


def sandbox_packages_dir(runtime: str) -> str:
    """Where a sandboxed function finds them."""
    return SANDBOX_SITE_PACKAGES.format(runtime=runtime)


class RuntimePackagesError(RuntimeError):
    """The runtime packages could not be installed; the message says why and what pip said."""


def lock_file(runtime: str) -> Path:
    """The exact, transitive lock for ``runtime`` (raises if this package carries none)."""
    lock = REQUIREMENTS_DIR / f"lambda-runtime-{runtime}.lock"
    if not lock.is_file():
        known = sorted(p.name for p in REQUIREMENTS_DIR.glob("lambda-runtime-*.lock"))
        raise RuntimePackagesError(f"no runtime packages lock for {runtime!r} ({lock}); locks present: {known}")
    return lock


def install(venv_prefix: Path, runtime: str, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """Install ``runtime``'s packages (the lock, no other dependency resolution) for the LocalStack venv at
    ``venv_prefix`` with that venv's pip; returns the directory. Idempotent: pip replaces what is there."""
    lock = lock_file(runtime)
    python = Path(venv_prefix) / "bin" / "python"
    if not python.exists():
        raise RuntimePackagesError(f"{python} does not exist: {venv_prefix} is not a virtualenv")
    target = packages_dir(runtime, Path(venv_prefix))
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--upgrade"]
    command += ["--target", str(target), "--no-deps", "--only-binary=:all:", "-r", str(lock)]
    log.info("installing the %s runtime packages into %s", runtime, target)
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise RuntimePackagesError(
            f"installing the {runtime} runtime packages into {target} took longer than {timeout_s:.0f} s"
        ) from error
    except OSError as error:
        raise RuntimePackagesError(f"cannot run {python}: {error}") from error
    if completed.returncode != 0:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-15:])
        raise RuntimePackagesError(
            f"pip failed (exit {completed.returncode}) installing {lock.name} into {target}:\n{tail}"
        )
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m embedded_localstack.runtime_packages <venv prefix> <runtime>...`` (used by the Makefile)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m embedded_localstack.runtime_packages <venv prefix> <runtime>...", file=sys.stderr)
        return 2
    try:
        for runtime in args[1:]:
            print(install(Path(args[0]), runtime))
    except RuntimePackagesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
