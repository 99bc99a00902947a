"""What a deployment left in LocalStack (or AWS), checked with boto3 after destroy."""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.exceptions import ClientError

from lambda_url_harness.project import DEFAULT_REGION

log = logging.getLogger(__name__)

_NOT_FOUND = {"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException"}


def localstack_session(region: str = DEFAULT_REGION) -> boto3.Session:
    """A boto3 session with LocalStack's test credentials (never the user's AWS profile)."""
    # LocalStack's conventional dummy credentials, not a secret.
    return boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)  # noqa: S106


def _exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return False
        raise
    return True


def leftovers(
    endpoint: str,
    *,
    function_name: str,
    role_name: str,
    log_group_name: str,
    region: str = DEFAULT_REGION,
) -> list[str]:
    """Descriptions of every resource of the deployment that still exists; empty when all are gone."""
    session = localstack_session(region)
    lambda_client = session.client("lambda", endpoint_url=endpoint)
    iam = session.client("iam", endpoint_url=endpoint)
    logs = session.client("logs", endpoint_url=endpoint)
    found: list[str] = []
    if _exists(lambda_client.get_function, FunctionName=function_name):
        found.append(f"function {function_name}")
    if _exists(lambda_client.get_function_url_config, FunctionName=function_name):
        found.append(f"function URL of {function_name}")
    if _exists(iam.get_role, RoleName=role_name):
        found.append(f"role {role_name}")
        found += [
            f"inline policy {name} of role {role_name}"
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        ]
    found += [
        f"managed policy {policy['PolicyName']}"
        for page in iam.get_paginator("list_policies").paginate(Scope="Local")
        for policy in page["Policies"]
        if function_name in policy["PolicyName"]
    ]
    found += [
        f"log group {group['logGroupName']}"
        for group in logs.describe_log_groups(logGroupNamePrefix=log_group_name)["logGroups"]
        if group["logGroupName"] == log_group_name
    ]
    return found
