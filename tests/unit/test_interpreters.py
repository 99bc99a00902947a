"""Runtime -> host interpreter: override, PATH, pyenv's installed versions; clear errors (real interpreters)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from embedded_localstack.service.interpreters import InterpreterError, InterpreterResolver, runtime_version

RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
BASE = Path(getattr(sys, "_base_executable", sys.executable)).resolve()


def fake_pyenv(root: Path, version: str, target: Path) -> Path:
    binary = root / "versions" / version / "bin" / RUNTIME
    binary.parent.mkdir(parents=True)
    binary.symlink_to(target)
    return binary


@pytest.mark.parametrize(
    ("runtime", "version"), [("python3.8", (3, 8)), ("python3.13", (3, 13)), ("nodejs20.x", (0, 0))]
)
def test_runtime_version(runtime, version):
    assert runtime_version(runtime) == version


def test_failing_pyenv_shim_falls_back_to_pyenvs_installed_version(tmp_path):
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / RUNTIME
    shim.write_text(f"#!/bin/sh\necho 'pyenv: {RUNTIME}: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    root = tmp_path / "pyenv"
    broken = fake_pyenv(root, f"{sys.version_info[0]}.{sys.version_info[1]}.100", Path("/nonexistent/python"))
    working = fake_pyenv(root, f"{sys.version_info[0]}.{sys.version_info[1]}.99", BASE)
    resolver = InterpreterResolver({"PATH": str(shims), "PYENV_ROOT": str(root)})
    resolved = resolver.resolve(RUNTIME)  # the shim fails, the newest pyenv version is broken, the next one runs
    assert resolved.resolve() == BASE
    assert broken.parent.parent.name not in str(resolved)
    assert working.parent.parent.name in str(resolved) or resolved == BASE


def test_explicit_override_is_not_second_guessed(tmp_path):
    root = tmp_path / "pyenv"
    fake_pyenv(root, f"{sys.version_info[0]}.{sys.version_info[1]}.99", BASE)
    variable = "EMBEDDED_LAMBDA_" + RUNTIME.upper().replace(".", "_")
    resolver = InterpreterResolver({"PATH": "", "PYENV_ROOT": str(root), variable: "/nonexistent/python"})
    with pytest.raises(InterpreterError, match="/nonexistent/python"):
        resolver.resolve(RUNTIME)


def test_no_interpreter_anywhere_names_the_override_variable(tmp_path):
    resolver = InterpreterResolver({"PATH": str(tmp_path), "HOME": str(tmp_path)})
    with pytest.raises(InterpreterError, match=r"is not on PATH; install it or set EMBEDDED_LAMBDA_PYTHON3_7="):
        resolver.resolve("python3.7")
