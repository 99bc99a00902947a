"""LocalStack's AWS side as the harness uses it: the region, the test credentials, boto3, log lines.

LocalStack accepts any credentials; the harness always uses its conventional ``test``/``test`` (never a user's AWS
profile or session), for Terraform (:func:`credential_environment`) and boto3 (:func:`localstack_session`) alike.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

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


PATH_STYLE = Config(s3={"addressing_style": "path"})
"""Buckets in the URL's path (``http://127.0.0.1:4566/<bucket>/<key>``), never in its host: LocalStack's host names
(``<bucket>.s3.localhost.localstack.cloud``, ``<bucket>.localhost``) need DNS that an offline machine lacks."""


def localstack_client(service: str, endpoint: str, region: str = DEFAULT_REGION, config: Config | None = None) -> Any:
    """A boto3 client for ``service`` at LocalStack ``endpoint`` with the test credentials; S3 path-style."""
    merged = PATH_STYLE.merge(config) if config is not None else PATH_STYLE
    return localstack_session(region).client(service, endpoint_url=endpoint, config=merged)
