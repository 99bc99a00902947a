"""The runtime packages (boto3 & co.) install from the exact lock into a LocalStack venv, with clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from embedded_localstack.runtime_packages import (
    RuntimePackagesError,
    install,
    lock_file,
    packages_dir,
    sandbox_packages_dir,
)

pytestmark = pytest.mark.embedded


def locked_versions(runtime: str) -> dict[str, str]:
    lines = lock_file(runtime).read_text().splitlines()
    pins = (line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    return {name.strip().lower().replace("_", "-"): version.strip() for name, version in pins}


def test_lock_pins_boto3_and_its_whole_closure():
    pins = locked_versions("python3.11")
    assert pins["boto3"] == pins["botocore"]
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"} <= set(pins)


def test_install_into_a_fresh_venv_matches_the_lock(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    target = install(venv, "python3.11")
    assert target == packages_dir("python3.11", venv) == venv / "lambda-runtime" / "python3.11"
    dist_infos = (path.name.removesuffix(".dist-info").rsplit("-", 1) for path in target.glob("*.dist-info"))
    installed = {name.lower().replace("_", "-"): version for name, version in dist_infos}
    assert installed == locked_versions("python3.11")
    # nothing went into the venv's own site-packages
    assert not list(venv.glob("lib/python*/site-packages/boto3"))
    assert install(venv, "python3.11") == target  # idempotent


@pytest.mark.parametrize(
    ("prefix", "runtime", "message"),
    [
        ("missing-venv", "python3.11", "is not a virtualenv"),
        (None, "python3.7", "no runtime packages lock for 'python3.7'"),
    ],
)
def test_install_errors_are_clear(tmp_path, prefix, runtime, message):
    with pytest.raises(RuntimePackagesError, match=message):
        install(tmp_path / (prefix or "venv"), runtime)


def test_sandbox_location_is_awss():
    assert sandbox_packages_dir("python3.11") == "/var/lang/lib/python3.11/site-packages"
