"""The AWS SDK for JavaScript v3 of the embedded Node.js runtimes, and where a function finds modules (``NODE_PATH``).

AWS's Node.js runtimes (18 and later) carry the whole SDK v3 (every ``@aws-sdk/client-*``, ~400 packages, several
hundred MB) in ``/var/runtime/node_modules``. Here the clients of the services LocalStack serves and the most used
libraries are shipped (``requirements/nodejs-sdk/package.json``: S3, DynamoDB and its document client, SQS, SNS,
Lambda, STS, IAM, Secrets Manager, SSM, Kinesis, Firehose, EventBridge, CloudWatch, CloudWatch Logs, KMS, Step
Functions, SES, API Gateway, CloudFormation, ``lib-storage``, ``s3-request-presigner``, ``credential-providers``;
~70 MB): a function that needs another client bundles it, as AWS recommends anyway. The exact versions of every
package are in the committed ``package-lock.json`` (no registry address in it: ``npm ci`` uses the configured
registry and checks each package's integrity hash). One copy serves every Node.js runtime:
``<LocalStack venv>/lambda-runtime/nodejs-sdk/node_modules``, installed with the npm of a provisioned Node.js.

Standard library only (imported by the executor inside LocalStack).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from embedded_localstack import runtime_packages

log = logging.getLogger(__name__)

SDK_DIRNAME = "nodejs-sdk"
SOURCE_DIR = runtime_packages.REQUIREMENTS_DIR / SDK_DIRNAME
MANIFESTS = ("package.json", "package-lock.json")
SANDBOX_RUNTIME_MODULES = "/var/runtime/node_modules"
"""Where AWS's Node.js runtimes keep the SDK, and where a sandboxed function finds ours."""
NPM_FLAGS = ("--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier")


def sdk_dir(prefix: Path | None = None) -> Path:
    """Host directory holding ``node_modules`` with the SDK (may not exist: then functions get none)."""
    return runtime_packages.packages_dir(SDK_DIRNAME, prefix)


def node_path(major: int, runtime_modules: str = SANDBOX_RUNTIME_MODULES) -> str:
    """``NODE_PATH`` as AWS's ``nodejs<major>.x`` bootstrap sets it: layers (version-specific first), the runtime's
    modules (the SDK), then ``/var/runtime`` and ``/var/task``."""
    layers = [f"/opt/nodejs/node{major}/node_modules", "/opt/nodejs/node_modules"]
    return ":".join([*layers, runtime_modules, "/var/runtime", "/var/task"])


def npm_command(node_prefix: Path) -> list[str]:
    """npm as shipped with that Node.js (the wheel's ``lib/node_modules/npm``), run by its own node."""
    node_prefix = node_prefix.resolve()  # npm runs in another directory
    return [str(node_prefix / "bin" / "node"), str(node_prefix / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")]


def install(venv_prefix: Path, node_prefix: Path, timeout_s: float = runtime_packages.INSTALL_TIMEOUT_S) -> Path:
    """``npm ci`` the locked SDK into ``<venv>/lambda-runtime/nodejs-sdk`` with the npm of ``node_prefix``; returns
    the directory. Idempotent (``npm ci`` replaces ``node_modules``)."""
    target = sdk_dir(venv_prefix)
    target.mkdir(parents=True, exist_ok=True)
    for name in MANIFESTS:
        shutil.copyfile(SOURCE_DIR / name, target / name)
    command = [*npm_command(node_prefix), "ci", "--omit=dev", *NPM_FLAGS]
    log.info("installing the AWS SDK for JavaScript into %s", target)
    runtime_packages.run_tool(command, f"installing the AWS SDK for JavaScript into {target}", timeout_s, cwd=target)
    return target


def relock(node_prefix: Path, timeout_s: float = runtime_packages.INSTALL_TIMEOUT_S) -> None:
    """Regenerate ``package-lock.json`` from ``package.json`` (``make lock``), without registry addresses."""
    command = [*npm_command(node_prefix), "install", "--package-lock-only", *NPM_FLAGS]
    runtime_packages.run_tool(command, "locking the AWS SDK for JavaScript", timeout_s, cwd=SOURCE_DIR)
    lock_path = SOURCE_DIR / "package-lock.json"
    lock = json.loads(lock_path.read_text())
    for package in lock.get("packages", {}).values():
        package.pop("resolved", None)
    lock_path.write_text(json.dumps(lock, indent=2) + "\n")


if __name__ == "__main__":  # python -m embedded_localstack.nodejs_sdk <node prefix>: the Makefile's `make lock`
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m embedded_localstack.nodejs_sdk <node prefix>")
    relock(Path(sys.argv[1]))
