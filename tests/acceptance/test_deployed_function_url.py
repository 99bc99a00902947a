"""The module applied once (shared by these read-only tests): the real URL, direct invoke, config, logs, plan."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.function_url import post_json

pytestmark = pytest.mark.acceptance


def test_url_returns_36_for_6(square_deployment: Deployment) -> None:
    with square_deployment.session() as session:
        response = post_json(session, square_deployment.function_url, {"number": 6})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"result": 36}


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, 0), (-3, 9), (2.5, 6.25), (12345678901234567890, 12345678901234567890**2)],
)
def test_url_squares_good_inputs(square_deployment: Deployment, number: float, expected: float) -> None:
    with square_deployment.session() as session:
        response = post_json(session, square_deployment.function_url, {"number": number})
    assert response.status_code == 200
    assert response.json() == {"result": expected}


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ('{"number": "six"}', "'number' must be a number, got string"),
        ("{}", "missing 'number'"),
        ('{"number": true}', "'number' must be a number, got boolean"),
        ("[6]", "expected a JSON object, got array"),
        ("not json", "not valid JSON"),
    ],
)
def test_url_rejects_bad_inputs_with_400(square_deployment: Deployment, body: str, message_part: str) -> None:
    with square_deployment.session() as session:
        response = session.post(
            square_deployment.function_url, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert message_part in error


def test_direct_invoke_squares(square_deployment: Deployment, aws_client: Callable[[str], Any]) -> None:
    answer = aws_client("lambda").invoke(
        FunctionName=square_deployment.outputs["function_name"], Payload=json.dumps({"number": 6}).encode()
    )
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"result": 36}


def test_direct_invoke_with_bad_input_answers_an_error(
    square_deployment: Deployment, aws_client: Callable[[str], Any]
) -> None:
    answer = aws_client("lambda").invoke(
        FunctionName=square_deployment.outputs["function_name"], Payload=json.dumps({"number": "x"}).encode()
    )
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"error": "'number' must be a number, got string"}


def test_function_is_active_with_expected_configuration(
    square_deployment: Deployment, aws_client: Callable[[str], Any]
) -> None:
    outputs = square_deployment.outputs
    config = aws_client("lambda").get_function_configuration(FunctionName=outputs["function_name"])
    assert outputs["function_name"] == f"square-{square_deployment.suffix}"
    assert config["State"] == "Active"
    assert config["Runtime"] == "python3.11"
    assert config["Handler"] == "lambda_function_square.lambda_handler"
    assert (config["MemorySize"], config["Timeout"]) == (128, 10)
    assert config["Role"] == outputs["role_arn"]
    assert config["FunctionArn"] == outputs["function_arn"]
    url_config = aws_client("lambda").get_function_url_config(FunctionName=outputs["function_name"])
    assert url_config["FunctionUrl"] == outputs["function_url"]
    assert url_config["AuthType"] == "NONE"


def test_role_trusts_only_the_lambda_service(square_deployment: Deployment, aws_client: Callable[[str], Any]) -> None:
    role = aws_client("iam").get_role(RoleName=square_deployment.outputs["role_name"])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):  # IAM returns it URL-encoded JSON on some backends
        trust = json.loads(trust)
    assert [(statement["Effect"], statement["Action"], statement["Principal"]) for statement in trust["Statement"]] == [
        ("Allow", "sts:AssumeRole", {"Service": "lambda.amazonaws.com"})
    ]


def test_request_log_line_reaches_the_log_group(
    square_deployment: Deployment, aws_client: Callable[[str], Any]
) -> None:
    with square_deployment.session() as session:
        assert post_json(session, square_deployment.function_url, {"number": 7}).status_code == 200
    logs = aws_client("logs")
    group = square_deployment.outputs["log_group_name"]
    messages: list[str] = []
    for _ in range(20):  # bounded: log delivery is asynchronous
        events = logs.filter_log_events(logGroupName=group, filterPattern="POST")["events"]
        messages = [event["message"] for event in events]
        if any("POST 200" in message for message in messages):
            break
        time.sleep(1)
    assert any("POST 200" in message for message in messages), f"no 'POST 200' line in {group}: {messages}"


def test_second_plan_is_empty(square_deployment: Deployment) -> None:
    plan = square_deployment.plan()
    assert not plan.has_changes, str(plan)
