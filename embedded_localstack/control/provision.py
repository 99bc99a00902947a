"""A LocalStack environment for embedded mode where none exists yet (a project that installed the harness).

In a source checkout ``make venv`` creates ``.venv-localstack``. Anywhere else, the first embedded run creates a
venv in the user's cache directory (``<cache>/localstack-<key>/``): ``python3.11 -m venv``, then
``pip install -r <LocalStack requirements>`` from the configured index (PyPI or its mirror), then registers this
package's executor plugin in it and installs the Lambda runtimes (:func:`embedded_localstack.runtime_packages.
install_all`; ~2-3 min and ~1.3 GB once, Node.js included). The key hashes the requirements and runtime locks, the
interpreter version and this package's version, so a new pin gets a new environment. Linux only: the
embedded executor runs functions as host processes with Linux facilities.

Standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from embedded_localstack import nodejs_sdk, paths, runtime_install, runtime_packages
from embedded_localstack.errors import EmbeddedLocalStackError

log = logging.getLogger(__name__)

LOCALSTACK_REQUIREMENTS = ("requirements", "localstack.lock")
"""The LocalStack environment's exact lock, package data of ``embedded_localstack`` (the one place naming it)."""
PYTHON_VERSION = (3, 11)
"""LocalStack 4.9.2's Lambda plugins load on 3.11 (see requirements); the venv is made with this version."""
DISTRIBUTION = "terraform-aws-lambda-square"
PIP_TIMEOUT_S = 900.0
READY_MARKER = ".provisioned"

Progress = Callable[[str], None]


class ProvisioningError(EmbeddedLocalStackError):
    """No LocalStack environment can be made here; the message says why and what to do instead."""


def requirements_text() -> str:
    lock = importlib.resources.files("embedded_localstack").joinpath(*LOCALSTACK_REQUIREMENTS)
    if not lock.is_file():
        raise ProvisioningError(
            f"this installation carries no LocalStack lock (embedded_localstack/{'/'.join(LOCALSTACK_REQUIREMENTS)}); "
            "pass --localstack-python=<python of a LocalStack venv>, or use --localstack=external or docker"
        )
    return lock.read_text()


def find_python311() -> Path:
    if sys.version_info[:2] == PYTHON_VERSION:
        return Path(sys.executable)
    name = "python{}.{}".format(*PYTHON_VERSION)
    found = shutil.which(name)
    if found is None:
        raise ProvisioningError(
            f"embedded mode needs {name} for LocalStack 4.9.2 and none is on PATH; install it or pass "
            "--localstack-python=<python of an existing LocalStack venv>"
        )
    return Path(found)


def environment_dir(requirements: str, python: Path) -> Path:
    # The runtime packages' locks are part of the environment too: a changed one makes a new environment.
    locks = [runtime_packages.lock_file(runtime) for runtime in runtime_packages.locked_runtimes()]
    locks += [nodejs_sdk.SOURCE_DIR / name for name in nodejs_sdk.MANIFESTS]
    runtime_locks = "\n".join(lock.read_text() for lock in locks)
    identity = f"{requirements}\n{runtime_locks}\n{python.resolve()}\n{_package_version()}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return paths.user_cache_dir() / f"localstack-{key}"


def _package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "source"


def localstack_python(explicit: Path | None = None, progress: Progress = print) -> Path:
    """The interpreter of a LocalStack environment: ``explicit``, the checkout's ``.venv-localstack``, or one
    provisioned in the cache (created on first use)."""
    if not sys.platform.startswith("linux"):
        raise ProvisioningError(f"embedded mode runs on Linux only (this is {sys.platform})")
    if explicit is not None:
        if not explicit.is_file():
            raise ProvisioningError(f"--localstack-python {explicit} does not exist")
        return explicit
    checkout_venv = paths.checkout_localstack_python()
    if paths.is_checkout() and checkout_venv.is_file():
        return checkout_venv
    return ensure_environment(progress=progress)


def ensure_environment(progress: Progress = print, python: Path | None = None) -> Path:
    requirements = requirements_text()
    base_python = python or find_python311()
    target = environment_dir(requirements, base_python)
    venv_python = target / "bin" / "python"
    if (target / READY_MARKER).is_file() and venv_python.is_file():
        return venv_python
    shutil.rmtree(target, ignore_errors=True)  # a half-made one from an interrupted run
    target.parent.mkdir(parents=True, exist_ok=True)
    progress(f"embedded LocalStack: creating its environment in {target} (once; ~3 min, ~1.3 GB from the index)")
    _run([str(base_python), "-m", "venv", str(target)], "create the venv")
    requirements_file = target / "localstack-requirements.txt"
    requirements_file.write_text(requirements)
    progress("embedded LocalStack: pip install localstack-core and its pinned dependencies ...")
    _run(
        [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements_file)],
        "install LocalStack",
    )
    register_executor(target)
    install_runtime_packages(venv_python, progress)
    (target / READY_MARKER).write_text("ok\n")
    progress(f"embedded LocalStack: environment ready ({venv_python})")
    return venv_python


def register_executor(target: Path) -> None:
    """Make this package importable in the LocalStack venv and announce its executor plugin to plux.

    A ``.pth`` file adds a directory holding only a link to this package (not the harness's site-packages,
    whose other packages would shadow LocalStack's pins), and a minimal ``.dist-info`` carries the
    ``localstack.lambda.runtime_executor`` entry point that ``LAMBDA_RUNTIME_EXECUTOR=local-process`` selects.
    """
    site_packages = next((target / "lib").glob("python3.*/site-packages"))
    source = target / "harness-src"
    source.mkdir(exist_ok=True)
    link = source / "embedded_localstack"
    if not link.exists():
        link.symlink_to(Path(__file__).resolve().parent.parent, target_is_directory=True)  # the package root
    (site_packages / "embedded_localstack_executor.pth").write_text(f"{source}\n")
    dist_info = site_packages / "embedded_localstack_executor-0.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: embedded-localstack-executor\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text(
        "[localstack.lambda.runtime_executor]\n"
        "local-process = embedded_localstack.service.executor:LocalProcessRuntimeExecutorPlugin\n"
    )


def install_runtime_packages(venv_python: Path, progress: Progress) -> None:
    """What AWS's runtimes ship (boto3 for each python3.X with a host interpreter, Node.js 20/22/24 and the AWS SDK
    for JavaScript), next to LocalStack's interpreter."""
    progress("embedded LocalStack: installing the Lambda runtimes (boto3, Node.js, AWS SDK for JavaScript) ...")
    try:
        runtime_install.install_all(venv_python.parent.parent, progress=progress, timeout_s=PIP_TIMEOUT_S)
    except runtime_packages.RuntimePackagesError as exc:
        raise ProvisioningError(f"could not install the Lambda runtimes: {exc}") from exc


def _run(argv: list[str], what: str) -> None:
    environment = {**os.environ, "PIP_NO_INPUT": "1"}
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=environment)
    except subprocess.TimeoutExpired as exc:
        raise ProvisioningError(f"could not {what}: timed out after {PIP_TIMEOUT_S:.0f} s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ProvisioningError(f"could not {what} (`{' '.join(argv)}` exited {result.returncode}):\n{tail}")
