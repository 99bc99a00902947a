"""The module's own ``authorization_type = "AWS_IAM"`` and ``cors`` inputs, deployed with Terraform and called.

With the embedded LocalStack, Function URLs answer as AWS's do (AuthType, resource policy, CORS), so these tests
assert AWS's answers. Any other LocalStack (4.9.2 in Docker) checks none of it; there they pin what it answers
instead, marked KNOWN LOCALSTACK LIMITATION, so the difference stays visible.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from support import is_embedded_localstack

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.function_url import wait_for_status
from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.square.module import SMOKE_PAYLOAD, SMOKE_RESULT, wait_for_first_200

pytestmark = pytest.mark.acceptance

APP = "https://app.example"
CORS = {
    "allow_origins": [APP],
    "allow_methods": ["POST"],
    "allow_headers": ["content-type", "x-request-id"],
    "expose_headers": ["x-amzn-requestid"],
    "max_age": 600,
    "allow_credentials": True,
}
FORBIDDEN = {
    "Message": "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
}


@pytest.fixture(scope="module")
def aws_answers(localstack: LocalStackHandle) -> bool:
    return is_embedded_localstack(localstack)


@pytest.fixture(scope="module")
def iam_deployment(deploy_module: Callable[..., Deployment]) -> Deployment:
    deployment = deploy_module(".", {"function_name": "square-iam-{suffix}", "authorization_type": "AWS_IAM"})
    wait_for_status(deployment.signed_http, deployment.function_url, SMOKE_PAYLOAD)
    return deployment


@pytest.fixture(scope="module")
def cors_deployment(deploy_module: Callable[..., Deployment]) -> Deployment:
    deployment = deploy_module(".", {"function_name": "square-cors-{suffix}", "cors": CORS})
    wait_for_first_200(deployment)
    return deployment


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {
        name.lower(): value for name, value in response.headers.items() if name.lower().startswith("access-control-")
    }


def test_an_iam_url_answers_a_signed_request(iam_deployment: Deployment) -> None:
    response = iam_deployment.signed_http.post(iam_deployment.function_url, json=SMOKE_PAYLOAD, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == SMOKE_RESULT


def test_an_iam_url_refuses_an_unsigned_request(iam_deployment: Deployment, aws_answers: bool) -> None:
    response = iam_deployment.http.post(iam_deployment.function_url, json=SMOKE_PAYLOAD, timeout=30)
    if aws_answers:
        assert response.status_code == 403, response.text
        assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        assert response.json() == FORBIDDEN
        return
    # KNOWN LOCALSTACK LIMITATION: LocalStack's URL router checks no AuthType; the function answers.
    assert response.status_code == 200


def test_an_iam_url_has_no_public_permission(iam_deployment: Deployment, aws_client: Callable[[str], Any]) -> None:
    client = aws_client("lambda")
    name = iam_deployment.outputs["function_name"]
    assert client.get_function_url_config(FunctionName=name)["AuthType"] == "AWS_IAM"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_policy(FunctionName=name)  # the public_url permission exists only for "NONE"


def test_a_preflight_is_answered_exactly_as_configured(cors_deployment: Deployment, aws_answers: bool) -> None:
    preflight = {
        "Origin": APP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = cors_deployment.http.options(cors_deployment.function_url, headers=preflight, timeout=30)
    if aws_answers:
        assert response.status_code == 200
        assert response.content == b""  # answered by the service: the handler would have answered 405
        headers = cors_headers(response)
        # The aws provider keeps allow_headers as a set: the order it sends them in is its own.
        assert sorted(headers.pop("access-control-allow-headers").split(",")) == sorted(CORS["allow_headers"])
        assert headers == {
            "access-control-allow-origin": APP,
            "access-control-allow-methods": "POST",
            "access-control-max-age": "600",
            "access-control-allow-credentials": "true",
        }
        return
    # KNOWN LOCALSTACK LIMITATION: its gateway refuses an Origin outside its own allow-list with an empty 403.
    assert (response.status_code, response.content) == (403, b"")


def test_an_allowed_origin_gets_the_configured_headers(cors_deployment: Deployment, aws_answers: bool) -> None:
    response = cors_deployment.http.post(
        cors_deployment.function_url, json=SMOKE_PAYLOAD, headers={"Origin": APP}, timeout=30
    )
    if not aws_answers:
        assert response.status_code == 403  # KNOWN LOCALSTACK LIMITATION, as above
        return
    assert response.status_code == 200, response.text
    assert response.json() == SMOKE_RESULT
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-expose-headers": "x-amzn-requestid",
        "access-control-allow-credentials": "true",
    }


def test_a_disallowed_origin_gets_its_answer_without_cors_headers(
    cors_deployment: Deployment, aws_answers: bool
) -> None:
    response = cors_deployment.http.post(
        cors_deployment.function_url, json=SMOKE_PAYLOAD, headers={"Origin": "https://elsewhere.example"}, timeout=30
    )
    if not aws_answers:
        assert response.status_code == 403  # KNOWN LOCALSTACK LIMITATION, as above
        return
    assert response.status_code == 200, response.text
    assert response.json() == SMOKE_RESULT  # the browser, not the service, keeps it from the page
    assert cors_headers(response) == {}


def test_a_public_url_gets_awss_public_statements(
    square_deployment: Deployment, aws_client: Callable[[str], Any]
) -> None:
    # The module's own statement, and the one hashicorp/aws 5.x adds with every aws_lambda_function_url whose
    # authorization_type is NONE; both as AWS writes them (what the embedded LocalStack's check needs).
    policy = aws_client("lambda").get_policy(FunctionName=square_deployment.outputs["function_name"])["Policy"]
    statements = {statement["Sid"]: statement for statement in json.loads(policy)["Statement"]}
    assert set(statements) == {"AllowPublicFunctionUrl", "FunctionURLAllowPublicAccess"}
    for statement in statements.values():
        assert statement["Principal"] == "*"
        assert statement["Action"] == "lambda:InvokeFunctionUrl"
        assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
