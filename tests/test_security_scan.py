"""Security scan of the module with checkov (offline): zero failed checks, every skip reasoned inline.

checkov lives in its own virtualenv, ``.venv-scan`` (``make venv`` creates it): its dependency
bc-python-hcl2 installs a package named ``hcl2`` over python-hcl2's, which breaks tflocal in ``.venv``.

The scan runs on a temporary copy of the module *with* examples/: the examples add no resources of their
own (checkov resolves ``module "square"`` to the same main.tf), but examples/localstack holds the one
provider block of the repository, and its placeholder LocalStack credentials must keep passing CKV_AWS_41
(no hard-coded AWS keys).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lambda_url_harness import workspace
from lambda_url_harness.square.module import SQUARE_MODULE_ITEMS
from lambda_url_harness.terraform.tfconfig import terraform_env

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".state"
CHECKOV = REPO_ROOT / ".venv-scan" / "bin" / "checkov"
SKIPPED_BY_DESIGN = {
    "CKV_AWS_338",  # log retention >= 1 year: the caller's choice (log_retention_in_days)
    "CKV_AWS_116",  # dead-letter queue: only for asynchronous invokes
    "CKV_AWS_117",  # VPC: nothing private to reach
    "CKV_AWS_115",  # reserved concurrency: opt-in variable, unreserved by default
    "CKV_AWS_272",  # code signing: needs a signing profile and S3 artifacts
    "CKV_AWS_258",  # Function URL auth NONE: a public URL is the point of the default
    "CKV_AWS_301",  # public lambda permission: exists only for authorization_type = "NONE"
}
"""Every skip is also explained in README.md's Security section; a new one must be added to both."""

OPT_INS = {
    "tracing_mode": "Active",
    "authorization_type": "AWS_IAM",
    "reserved_concurrent_executions": 5,
    "environment_variables": {"GREETING": "hello"},
    "environment_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "log_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
}
"""The optional hardening switched on: the X-Ray policy (with its unavoidable "*") must pass the IAM checks too."""

pytestmark = pytest.mark.terraform


def run_checkov(module_dir: Path, var_file: Path | None = None) -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: run `make venv` (it creates .venv-scan with checkov)", pytrace=False)
    # Not --quiet: it drops the skipped checks from the JSON, and those are what we audit below.
    # --skip-download: no call to the Prisma Cloud API (offline; only doc links are lost).
    argv = [str(CHECKOV), "-d", str(module_dir), "--framework", "terraform", "--compact", "--skip-download"]
    argv += ["-o", "json"]
    if var_file is not None:
        argv += ["--var-file", str(var_file)]
    result = subprocess.run(
        argv, env=terraform_env(STATE_DIR), capture_output=True, text=True, timeout=300, check=False
    )
    # checkov exits 1 when a check fails; anything else (or no JSON) means it did not run properly.
    if result.returncode not in (0, 1):
        pytest.fail(f"checkov exited {result.returncode}\n--- stderr\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    assert isinstance(report, dict), f"one framework gives one report, got {type(report).__name__}"
    return report


def failed_summary(report: dict[str, Any]) -> str:
    return "\n".join(
        f"{check['check_id']} {check['resource']} ({check['file_path']}:{check['file_line_range']}): "
        f"{check['check_name']}"
        for check in report["results"]["failed_checks"]
    )


@pytest.fixture(scope="module")
def module_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workspace.copy_module(REPO_ROOT, tmp_path_factory.mktemp("scan") / "module", SQUARE_MODULE_ITEMS)


@pytest.fixture(scope="module", params=["defaults", "opt-ins"])
def report(request: pytest.FixtureRequest, module_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    var_file = None
    if request.param == "opt-ins":
        var_file = tmp_path_factory.mktemp("vars") / "opt-ins.tfvars.json"
        var_file.write_text(json.dumps(OPT_INS))
    return run_checkov(module_copy, var_file)


def test_no_failed_checks(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["failed"] == 0, failed_summary(report)
    # The module's 7 resources (8 with the X-Ray policy) were really scanned, not an empty directory.
    assert summary["resource_count"] >= 7
    assert summary["passed"] >= 20


def test_every_skip_has_an_inline_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert {check["check_id"] for check in skipped} == SKIPPED_BY_DESIGN
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) >= 40, f"{check['check_id']} on {check['resource']}: reason too thin: {reason!r}"
        # The skip must sit inside the resource it suppresses, with the ID and reason inline.
        first, last = check["file_line_range"]
        lines = Path(check["file_abs_path"]).read_text().splitlines()[first - 1 : last]
        marker = re.compile(rf"#\s*checkov:skip={check['check_id']}:\S")
        assert any(marker.search(line) for line in lines), f"no inline checkov:skip for {check['check_id']}"


def test_provider_block_of_the_localstack_example_holds_no_real_keys(report: dict[str, Any]) -> None:
    passed = {(check["check_id"], check["file_path"]) for check in report["results"]["passed_checks"]}
    assert ("CKV_AWS_41", "/examples/localstack/main.tf") in passed


def test_readme_security_section_explains_every_skip() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"^## Security\n(.*?)(?=^## )", readme, re.S | re.M)
    assert match, "README.md has no '## Security' section"
    missing = sorted(check_id for check_id in SKIPPED_BY_DESIGN if check_id not in match.group(1))
    assert missing == [], f"README's Security section does not explain {missing}"
