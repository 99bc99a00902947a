"""LocalStack's AWS side as the harness uses it: the region, the test credentials, boto3, log lines.

LocalStack accepts any credentials; the harness always uses its conventional ``test``/``test`` (never a user's AWS
profile or session), for Terraform (:func:`credential_environment`) and boto3 (:func:`localstack_session`) alike.
"""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_REGION = "us-east-1"
TEST_ACCESS_KEY_ID = "test"
TEST_SECRET_ACCESS_KEY = "test"  # noqa: S105 - LocalStack's conventional dummy credentials, not a secret
REAL_AWS_SETTINGS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")
"""Variables naming a real AWS account's credentials or profiles: never passed on to LocalStack runs."""


def credential_environment(region: str = DEFAULT_REGION) -> dict[str, str]:
    """The test credentials and region as AWS SDKs (and Terraform's aws provider) read them from the environment."""
    return {
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


def localstack_session(region: str = DEFAULT_REGION) -> boto3.Session:
    """A boto3 session with LocalStack's test credentials (never the user's AWS profile)."""
    return boto3.Session(
        aws_access_key_id=TEST_ACCESS_KEY_ID, aws_secret_access_key=TEST_SECRET_ACCESS_KEY, region_name=region
    )


def recent_log_lines(endpoint: str, log_group: str, limit: int = 30, region: str = DEFAULT_REGION) -> str:
    """The last ``limit`` lines of a CloudWatch Logs group (a function's traceback or "Task timed out"), for
    error messages; says so instead when the group cannot be read."""
    logs = localstack_session(region).client("logs", endpoint_url=endpoint)
    try:
        events = logs.filter_log_events(logGroupName=log_group, limit=10_000).get("events", [])
    except (BotoCoreError, ClientError) as exc:
        return f"(could not read log group {log_group}: {exc})"
    ordered = sorted(events, key=lambda event: event.get("timestamp", 0))[-limit:]
    lines = [str(event.get("message", "")).rstrip() for event in ordered]
    return f"--- last {len(lines)} lines of log group {log_group} ---\n" + "\n".join(lines)
