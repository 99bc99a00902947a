"""The module through the real terraform CLI, offline: fmt, validate, providers, native
tests (mock aws provider) and plans of the examples (no AWS endpoint is contacted).

Every run works in a temporary copy of the module, so no two runs (nor a user's
`tflocal apply` in the repo root) ever share a `.terraform` dir, state or builds/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambda_url_harness import workspace
from lambda_url_harness.square.module import SQUARE_MODULE_ITEMS
from lambda_url_harness.terraform.tfconfig import terraform_env

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".state"
HANDLER_NAME = "lambda_function_square.py"
pytestmark = pytest.mark.terraform


def copy_module(destination: Path) -> Path:
    """A private copy of the module (HCL, handler, packager, examples) plus the native tests."""
    return workspace.copy_module(REPO_ROOT, destination, (*SQUARE_MODULE_ITEMS, "tests/*.tftest.hcl", "tests/mocks"))


def terraform(workdir: Path, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """Run terraform in ``workdir`` with the offline-mirror environment; fail with its output."""
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH (Terraform >= 1.7 is needed for these tests)")
    result = subprocess.run(
        ["terraform", *args],
        cwd=workdir,
        env=terraform_env(STATE_DIR),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"terraform {' '.join(args)} exited {result.returncode} in {workdir}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def expected_source_code_hash(module_dir: Path) -> str:
    """The module's documented hash: base64 sha256 of "<file> <sha256>" lines plus the packager's."""
    lines = [
        f"{path.relative_to(module_dir / 'lambda').as_posix()} {hashlib.sha256(path.read_bytes()).hexdigest()}"
        for path in sorted((module_dir / "lambda").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}
    ]
    lines.append(f"packager {hashlib.sha256((module_dir / 'scripts/package_lambda.py').read_bytes()).hexdigest()}")
    return base64.b64encode(hashlib.sha256("\n".join(lines).encode()).digest()).decode()


@pytest.fixture(scope="module")
def initialized_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module_dir = copy_module(tmp_path_factory.mktemp("module"))
    terraform(module_dir, "init", "-backend=false", "-input=false")
    return module_dir


def test_fmt_is_clean(tmp_path: Path) -> None:
    module_dir = copy_module(tmp_path / "module")
    terraform(module_dir, "fmt", "-check", "-recursive", "-diff")


def test_validate_is_clean(initialized_module: Path) -> None:
    result = terraform(initialized_module, "validate", "-json")
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["warning_count"] == 0, report["diagnostics"]


def test_only_provider_is_hashicorp_aws(initialized_module: Path) -> None:
    # terraform.io/builtin/terraform (terraform_data) ships inside Terraform itself.
    listed = set(re.findall(r"provider\[([^\]]+)\]", terraform(initialized_module, "providers").stdout))
    assert listed - {"terraform.io/builtin/terraform"} == {"registry.terraform.io/hashicorp/aws"}
    locked = re.findall(r'^provider "([^"]+)"', (initialized_module / ".terraform.lock.hcl").read_text(), re.M)
    assert locked == ["registry.terraform.io/hashicorp/aws"]


def test_no_provider_block_in_module() -> None:
    # A provider block in a module breaks tflocal's override and module reuse.
    for path in REPO_ROOT.glob("*.tf"):
        if path.name != "localstack_providers_override.tf":
            assert not re.search(r'^\s*provider\s+"', path.read_text(), re.M), f"provider block in {path.name}"


def test_native_terraform_tests_pass_and_build_a_deterministic_zip(tmp_path: Path) -> None:
    module_dir = copy_module(tmp_path / "module")
    terraform(module_dir, "init", "-backend=false", "-input=false")
    result = terraform(module_dir, "test", "-no-color")
    summary = re.search(r"Success! (\d+) passed, 0 failed\.", result.stdout)
    assert summary, result.stdout
    test_files = module_dir.glob("tests/*.tftest.hcl")
    run_blocks = sum(len(re.findall(r'^run "', path.read_text(), re.M)) for path in test_files)
    assert int(summary.group(1)) == run_blocks

    # The zip terraform_data built during `terraform test` (apply with a mocked aws).
    zips = sorted((module_dir / "builds").glob("lambda-*.zip"))
    assert len(zips) == 1, zips
    with zipfile.ZipFile(zips[0]) as archive:
        entries = archive.infolist()
        assert [entry.filename for entry in entries] == [HANDLER_NAME]
        assert archive.read(HANDLER_NAME) == (module_dir / "lambda" / HANDLER_NAME).read_bytes()
    assert all(entry.date_time == (1980, 1, 1, 0, 0, 0) for entry in entries)
    assert all(entry.external_attr >> 16 == 0o100644 for entry in entries)

    # Byte-identical to a build of the same sources by the packager run directly.
    direct = tmp_path / "direct.zip"
    subprocess.run(
        ["python3", str(module_dir / "scripts/package_lambda.py"), "--source-dir", str(module_dir / "lambda"),
         "--output", str(direct)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert direct.read_bytes() == zips[0].read_bytes()


def validate(workdir: Path) -> None:
    report = json.loads(terraform(workdir, "validate", "-json").stdout)
    assert report["valid"] is True, report["diagnostics"]


def test_basic_example_validates(tmp_path: Path) -> None:
    example_dir = copy_module(tmp_path / "module") / "examples" / "basic"
    terraform(example_dir, "init", "-backend=false", "-input=false")
    validate(example_dir)


def planned_function(example_dir: Path) -> dict:
    """The planned aws_lambda_function of the localstack example.

    With empty state and the skip_* flags, planning makes no API call: no LocalStack needed.
    """
    terraform(example_dir, "plan", "-input=false", "-out=plan.tfplan")
    plan = json.loads(terraform(example_dir, "show", "-json", "plan.tfplan").stdout)
    changes = {change["address"]: change["change"] for change in plan["resource_changes"]}
    return changes["module.square.aws_lambda_function.this"]["after"]


def test_localstack_example_plans_offline_and_hash_follows_the_sources(tmp_path: Path) -> None:
    module_dir = copy_module(tmp_path / "module")
    example_dir = module_dir / "examples" / "localstack"
    terraform(example_dir, "init", "-backend=false", "-input=false")
    validate(example_dir)

    original = planned_function(example_dir)["source_code_hash"]
    assert original == expected_source_code_hash(module_dir)

    handler = module_dir / "lambda" / HANDLER_NAME
    handler.write_text(handler.read_text() + "\n# edited\n")
    edited = planned_function(example_dir)["source_code_hash"]
    assert edited == expected_source_code_hash(module_dir)
    assert edited != original
