"""Embedded mode's LocalStack environment outside a checkout: where it comes from, and clear refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from embedded_localstack import paths
from embedded_localstack.control import provision
from lambda_url_harness.discovery import DiscoveryOptions, Mode, try_embedded


def test_embedded_mode_says_up_front_that_it_needs_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(provision.ProvisioningError, match="Linux only"):
        provision.localstack_python()
    reason = try_embedded(DiscoveryOptions(mode=Mode.EMBEDDED))
    assert reason == "embedded mode runs on Linux only (this is darwin); use --localstack=external or docker"


def test_an_explicit_interpreter_must_exist(tmp_path: Path) -> None:
    with pytest.raises(provision.ProvisioningError, match="does not exist"):
        provision.localstack_python(tmp_path / "nope" / "python")


def test_a_checkout_uses_its_own_localstack_venv() -> None:
    venv_python = paths.CHECKOUT_ROOT / ".venv-localstack" / "bin" / "python"
    if not venv_python.is_file():
        pytest.skip("no .venv-localstack in this checkout (make venv creates it)")
    assert provision.localstack_python() == venv_python


def test_requirements_pin_localstack_and_the_environment_key_follows_them(tmp_path: Path) -> None:
    text = provision.requirements_text()
    assert "localstack-core" in text and "4.9.2" in text
    python = Path(sys.executable)
    assert provision.environment_dir(text, python) == provision.environment_dir(text, python)
    assert provision.environment_dir(text + "\nx==1\n", python) != provision.environment_dir(text, python)


def test_registered_executor_is_visible_to_plux_in_the_venv(tmp_path: Path) -> None:
    """A fresh venv (no pip: nothing installed) sees this package and its executor entry point afterwards."""
    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120)
    provision.register_executor(target)
    probe = (
        "from importlib.metadata import entry_points; import embedded_localstack.paths as p; "
        "print([e.value for e in entry_points(group='localstack.lambda.runtime_executor')]); print(p.__file__)"
    )
    result = subprocess.run(
        [str(target / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    found, location = result.stdout.splitlines()
    assert found == "['embedded_localstack.service.executor:LocalProcessRuntimeExecutorPlugin']"
    assert Path(location).resolve() == (paths.CHECKOUT_ROOT / "embedded_localstack" / "paths.py").resolve()
