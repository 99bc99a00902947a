"""Every destroy is checked against LocalStack: what the state listed before it must be gone.

The lie being caught is real: with tflocal's default S3 settings (virtual-host buckets, which need public DNS) the
aws provider's refresh takes the failed lookup for "bucket deleted", drops it from the state, and the destroy
reports success while the bucket stays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_url_harness.deployment import CHECK_DIR, Deployment
from lambda_url_harness.errors import LeftoverError
from lambda_url_harness.inventory.check import find_leftovers
from lambda_url_harness.terraform.state import TerraformState
from lambda_url_harness.terraform.tflocal import Tflocal

pytestmark = [pytest.mark.acceptance, pytest.mark.localstack_services("s3")]

MODULE = "tests/modules/destroy-check"


def _remove_bucket(s3: Any, bucket: str) -> None:
    with contextlib.suppress(s3.exceptions.NoSuchBucket):
        s3.delete_bucket(Bucket=bucket)


def test_a_destroy_that_silently_keeps_a_bucket_fails_naming_it(
    terraform_deploy: Callable[..., Deployment], aws_client: Callable[[str], Any]
) -> None:
    deployment = terraform_deploy(MODULE, {"name": "lying-destroy-{suffix}"})
    bucket = deployment.outputs["bucket"]
    s3 = aws_client("s3")
    # The same working dir destroyed as a hand-typed `tflocal destroy` without the harness's S3 setting would.
    env = {name: value for name, value in deployment.tflocal.env.items() if name not in ("S3_ENDPOINT", "GOGC")}
    lying = Deployment(
        deployment.working_dir,
        deployment.endpoint,
        deployment.timer,
        variables=deployment.variables,
        tflocal=Tflocal(deployment.working_dir, env, deployment.variables),
        refresh_before_destroy=True,
    )
    try:
        with pytest.raises(LeftoverError) as error:
            lying.destroy()
        message = str(error.value)
        listed = f"still holds 1 of the resources its state listed:\n  - aws_s3_bucket.this (bucket {bucket})\n"
        assert listed in message
        assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200, "the bucket is there"
        assert not lying.tflocal.state().addresses(), "Terraform believes everything is gone"
        kept = deployment.working_dir / CHECK_DIR / "before-destroy.tfstate"
        assert str(kept) in message and "aws_s3_bucket" in kept.read_text(), "the old state is kept for the user"
    finally:
        _remove_bucket(s3, bucket)


def test_the_check_names_every_survivor_and_nothing_after_a_real_destroy(
    terraform_deploy: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = terraform_deploy(MODULE, {"name": "checked-destroy-{suffix}"})
    bucket = deployment.outputs["bucket"]
    snapshot = tmp_path / "applied.tfstate"
    snapshot.write_text((deployment.working_dir / "terraform.tfstate").read_text())
    before = TerraformState.read_file(snapshot)

    def refresh(addresses: list[str]) -> TerraformState:
        copy = tmp_path / "refreshed.tfstate"
        copy.write_text(snapshot.read_text())
        return deployment.tflocal.refresh_state_file(copy, addresses)

    # Everything exists: the boto3 probes find the bucket and the log group, the provider's read the stream.
    alive = find_leftovers(before, deployment.endpoint, deployment.region, refresh)
    assert {(leftover.address, leftover.what) for leftover in alive} == {
        ("aws_s3_bucket.this", f"bucket {bucket}"),
        ("aws_cloudwatch_log_group.this", f"log group {deployment.outputs['log_group']}"),
        ("aws_cloudwatch_log_stream.this", "aws_cloudwatch_log_stream (still read by the provider)"),
    }
    assert all(not leftover.error for leftover in alive)

    deployment.destroy()  # checks itself; raising here would fail the test
    assert not (deployment.working_dir / CHECK_DIR).exists(), "a clean check leaves nothing behind"
    assert find_leftovers(before, deployment.endpoint, deployment.region, refresh) == []
