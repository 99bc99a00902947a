"""Install every Lambda runtime's packages and the Node.js SDK into a LocalStack venv (``make venv``, provisioning).

What each runtime gets and where: :mod:`embedded_localstack.runtime_packages` (Python and Node.js runtimes) and
:mod:`embedded_localstack.nodejs_sdk` (the AWS SDK for JavaScript); this module only puts them together:
``python -m embedded_localstack.runtime_install <venv prefix> [<runtime>...]``. Standard library only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from embedded_localstack import nodejs_sdk
from embedded_localstack.runtime_packages import (
    INSTALL_TIMEOUT_S,
    NODE_RUNTIME,
    PYTHON_RUNTIME,
    RuntimePackagesError,
    install,
    locked_runtimes,
    node_prefix,
    packages_dir,
)
from embedded_localstack.service.interpreters import InterpreterError, InterpreterResolver


def interpreter_found(runtime: str) -> str | None:
    """None if ``runtime`` can run here (Node.js: always, from its wheel), else why not (naming the setting)."""
    if not PYTHON_RUNTIME.match(runtime):
        return None
    try:
        InterpreterResolver().resolve(runtime)
    except InterpreterError as error:
        return str(error)
    return None


def install_all(
    venv_prefix: Path,
    runtimes: Iterable[str] | None = None,
    progress: Callable[[str], None] = print,
    timeout_s: float = INSTALL_TIMEOUT_S,
) -> list[str]:
    """Install every locked runtime (or ``runtimes``) that can run here, then the Node.js SDK if a Node.js runtime
    was installed; returns the runtimes installed. A python runtime without an interpreter is skipped, saying so."""
    venv_prefix = Path(venv_prefix).resolve()  # npm runs in the SDK's directory
    installed = []
    for runtime in locked_runtimes() if runtimes is None else runtimes:
        if (missing := interpreter_found(runtime)) is not None:
            progress(f"  {runtime}: skipped ({missing})")
            continue
        install(venv_prefix, runtime, timeout_s)
        progress(f"  {runtime}: {packages_dir(runtime, venv_prefix)}")
        installed.append(runtime)
    node_runtimes = [runtime for runtime in installed if NODE_RUNTIME.match(runtime)]
    if node_runtimes:
        target = nodejs_sdk.install(venv_prefix, node_prefix(node_runtimes[-1], venv_prefix), timeout_s)
        progress(f"  AWS SDK for JavaScript v3: {target}")
    return installed


def main(argv: list[str] | None = None) -> int:
    """``python -m embedded_localstack.runtime_install <venv prefix> [<runtime>...]`` (the Makefile: every locked
    runtime that can run here, and the Node.js SDK)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m embedded_localstack.runtime_install <venv prefix> [<runtime>...]", file=sys.stderr)
        return 2
    try:
        install_all(Path(args[0]), args[1:] or None)
    except RuntimePackagesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
