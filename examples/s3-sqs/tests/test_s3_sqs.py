"""The s3-sqs example, tested the way docs/harness.md's guide says: with the pytest plugin's fixtures only.

One deployment is shared by the module's tests (``terraform_deploy_module``: an apply costs ~30-60 s, most of it the
aws provider waiting on SQS); it is destroyed when the module ends, and the destroy is checked against LocalStack.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_url_harness.deployment import Deployment

MODULE = Path(__file__).resolve().parent.parent
"""This example's Terraform root (the tests live inside it)."""

pytestmark = [pytest.mark.acceptance, pytest.mark.localstack_services("s3", "sqs")]


@pytest.fixture(scope="module")
def app(terraform_deploy_module: Callable[..., Deployment]) -> Deployment:
    return terraform_deploy_module(
        MODULE, {"name": "s3sqs-{suffix}", "python_executable": sys.executable}, include=("*.tf", "src")
    )


def _result(app: Deployment, job: str) -> dict[str, Any] | None:
    """The processed result through the URL (GET ?id=), or None while it is pending."""
    response = app.http.get(app.output("function_url"), params={"id": job}, timeout=30)
    return response.json() if response.status_code == 200 else None


def test_posted_text_is_processed_through_s3_and_sqs(app: Deployment) -> None:
    """URL -> api -> S3 incoming/ -> notification -> SQS -> worker -> S3 processed/ -> URL."""
    submitted = app.http.post(app.output("function_url"), data="three little words", timeout=30)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["id"]

    result = app.eventually(lambda: _result(app, job), timeout_s=60, what=f"the result of job {job}")
    assert result == {
        "id": job,
        "words": 3,
        "upper": "THREE LITTLE WORDS",
        "note": f"processed by s3sqs-{app.suffix}",
    }
    worker = app.output("function_names")["worker"]
    assert any(f"processed incoming/{job}.txt: 3 words" in line.message for line in app.logs(worker))


def test_an_object_put_by_the_test_is_processed_too(app: Deployment, aws_client: Callable[..., Any]) -> None:
    """boto3 in the test reaches the bucket (path-style, no DNS), and S3's notification starts the chain."""
    s3 = aws_client("s3")
    bucket = app.output("bucket_name")
    s3.put_object(Bucket=bucket, Key="incoming/fromtest.txt", Body=b"put by the test")

    def processed() -> dict[str, Any]:  # NoSuchKey until the worker wrote it: eventually() keeps trying
        return dict(json.loads(s3.get_object(Bucket=bucket, Key="processed/fromtest.json")["Body"].read()))

    assert app.eventually(processed, timeout_s=60, what="processed/fromtest.json")["words"] == 4


def test_the_settings_object_terraform_manages_is_in_the_bucket(
    app: Deployment, aws_client: Callable[..., Any]
) -> None:
    body = aws_client("s3").get_object(Bucket=app.output("bucket_name"), Key="config/settings.json")["Body"].read()
    assert json.loads(body) == {"greeting": f"processed by s3sqs-{app.suffix}"}


def test_the_worker_reads_the_queue_the_bucket_notifies(app: Deployment, aws_client: Callable[..., Any]) -> None:
    queue_arn = aws_client("sqs").get_queue_attributes(QueueUrl=app.output("queue_url"), AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    notification = aws_client("s3").get_bucket_notification_configuration(Bucket=app.output("bucket_name"))
    assert [queue["QueueArn"] for queue in notification["QueueConfigurations"]] == [queue_arn]
    mappings = aws_client("lambda").list_event_source_mappings(FunctionName=app.output("function_names")["worker"])
    assert [(mapping["EventSourceArn"], mapping["State"]) for mapping in mappings["EventSourceMappings"]] == [
        (queue_arn, "Enabled")
    ]


def test_a_bad_request_is_refused_by_the_function(app: Deployment) -> None:
    response = app.http.post(app.output("function_url"), data="", timeout=30)
    assert (response.status_code, response.json()) == (400, {"error": "POST some text"})
    assert _result(app, "doesnotexist") is None  # 404 pending


def test_a_second_plan_is_empty(app: Deployment) -> None:
    plan = app.plan()
    assert not plan.has_changes, str(plan)


def test_the_plan_of_a_fresh_copy_creates_everything(terraform_deploy: Callable[..., Deployment]) -> None:
    """A plan before any apply: typed resource changes by address and action, and the outputs known at plan time."""
    variables = {"name": "s3sqs-plan-{suffix}", "python_executable": sys.executable}
    fresh = terraform_deploy(MODULE, variables, include=("*.tf", "src"), apply=False)
    plan = fresh.plan()
    assert plan.addresses("create") == list(plan.resource_changes)
    assert {
        "aws_s3_bucket.uploads",
        "aws_s3_object.settings",
        "aws_s3_bucket_notification.incoming",
        "aws_sqs_queue.jobs",
        "aws_lambda_event_source_mapping.jobs",
        'aws_lambda_function.this["api"]',
        'aws_lambda_function.this["worker"]',
        "aws_lambda_function_url.api",
    } <= set(plan.changes)
    assert plan.resource_changes["aws_s3_bucket.uploads"].after["bucket"] == f"s3sqs-plan-{fresh.suffix}-uploads"
    assert plan.outputs["role_name"] == f"s3sqs-plan-{fresh.suffix}-role"
    assert "bucket_name" not in plan.outputs, "the bucket's id is only known after apply"
    assert plan.output_changes["function_url"].after_unknown, "the URL is only known after apply"
