"""The square module as its tests, ``make deploy`` and the benchmark use it.

Its outputs: ``function_url`` (the URL), ``function_name``, ``role_name`` and ``log_group_name``. Its contract: POST
``{"number": 6}`` to the URL and get ``{"result": 36}``.
"""

from __future__ import annotations

from typing import Any

import requests

from embedded_localstack.paths import CHECKOUT_ROOT
from lambda_url_harness.aws import DEFAULT_REGION, localstack_session
from lambda_url_harness.deployment import FUNCTION_URL_OUTPUT, Deployment
from lambda_url_harness.errors import FunctionUrlError
from lambda_url_harness.function_logs import describe_log, log_group_of
from lambda_url_harness.function_url import FUNCTION_ERROR_STATUS, wait_for_status
from lambda_url_harness.inventory import exists

REPO_ROOT = CHECKOUT_ROOT
"""The repository root, which is also the root of the square module (in a source checkout)."""
SMOKE_PAYLOAD = {"number": 6}
SMOKE_RESULT = {"result": 36}
SQUARE_MODULE_ITEMS = ("*.tf", "lambda", "scripts", "examples/basic", "examples/localstack")
"""What a workspace copy of the square module needs from the repo: the module and the examples that call it (not its
venvs, tests or docs, nor examples/s3-sqs, a module of its own)."""
DEFAULT_VARIABLES = {"function_name": "square-{suffix}"}
"""The module root's inputs in a workspace copy (``{suffix}``: the workspace's unique suffix)."""


def wait_for_first_200(
    deployment: Deployment, payload: Any = SMOKE_PAYLOAD, attempts: int = 30, *, url_output: str = FUNCTION_URL_OUTPUT
) -> requests.Response:
    """POST ``payload`` to the URL of output ``url_output`` until it answers 200 (a new function may still be
    Pending). When the function itself fails (502), the error quotes the last lines of its log group."""
    url = str(deployment.output(url_output))
    with deployment.session() as session, deployment.timer.phase("first 200", deployment.label):
        try:
            return wait_for_status(session, url, payload, attempts=attempts)
        except FunctionUrlError as exc:
            if exc.status != FUNCTION_ERROR_STATUS:
                raise
            logs = "\n".join(
                describe_log(deployment.endpoint, log_group_of(deployment.endpoint, name, deployment.region))
                for name in deployment.function_names()
            )
            raise FunctionUrlError(f"{exc}\n{logs}", exc.status) from exc


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
    if exists(lambda_client.get_function, FunctionName=function_name):
        found.append(f"function {function_name}")
    if exists(lambda_client.get_function_url_config, FunctionName=function_name):
        found.append(f"function URL of {function_name}")
    if exists(iam.get_role, RoleName=role_name):
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
