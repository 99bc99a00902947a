"""Where the packages every AWS Python runtime ships (boto3, botocore and their dependencies) live for the
embedded executor, and where a function sees them.

AWS puts boto3/botocore on ``sys.path`` after ``/var/task`` and ``/opt`` (a function's own bundled copy wins).
Here they are installed once, per runtime, next to LocalStack's interpreter: ``<LocalStack venv>/lambda-runtime/
<runtime>/`` (for example ``.venv-localstack/lambda-runtime/python3.11``), so any provisioned LocalStack
environment carries them. Inside the sandbox the directory is bound read-only at AWS's path,
``/var/lang/lib/<runtime>/site-packages``. Standard library only (imported by the executor inside LocalStack).
"""

from __future__ import annotations

import sys
from pathlib import Path

RUNTIME_PACKAGES_DIRNAME = "lambda-runtime"
SANDBOX_SITE_PACKAGES = "/var/lang/lib/{runtime}/site-packages"
"""Mount point of the runtime packages inside the sandbox (AWS's location for python3.x runtimes)."""


def packages_dir(runtime: str, prefix: Path | None = None) -> Path:
    """Host directory with the runtime packages for ``runtime`` (may not exist: then functions get none)."""
    return (Path(sys.prefix) if prefix is None else prefix) / RUNTIME_PACKAGES_DIRNAME / runtime


def sandbox_packages_dir(runtime: str) -> str:
    """Where a sandboxed function finds them."""
    return SANDBOX_SITE_PACKAGES.format(runtime=runtime)
