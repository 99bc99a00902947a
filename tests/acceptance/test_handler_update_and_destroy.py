"""Changing the handler updates the function in place; destroy leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.function_url import post_json
from lambda_url_harness.square.module import leftovers, wait_for_first_200

pytestmark = pytest.mark.acceptance

HANDLER = "lambda/lambda_function_square.py"

# Appended to the handler in the temp workspace: wraps the contract's entry point so the
# edit changes behaviour whatever the handler's internals look like.
EDIT = """

_contract_handler = lambda_handler


def lambda_handler(event, context):  # edited by tests/acceptance/test_handler_update_and_destroy.py
    response = _contract_handler(event, context)
    if isinstance(response, dict) and isinstance(response.get("body"), str):
        body = json.loads(response["body"])
        body["edited"] = True
        return {**response, "body": json.dumps(body)}
    return {**response, "edited": True}
"""


def test_edit_reapply_updates_in_place_then_destroy_leaves_nothing(
    deploy_module: Callable[..., Deployment], aws_client: Callable[[str], Any]
) -> None:
    deployment = deploy_module()
    wait_for_first_200(deployment)
    lambda_client = aws_client("lambda")
    name = deployment.outputs["function_name"]
    before = lambda_client.get_function_configuration(FunctionName=name)
    url_before = deployment.function_url
    hash_before = deployment.outputs["source_code_hash"]

    handler = deployment.working_dir / HANDLER
    source = handler.read_text()
    assert "import json" in source, "the edit relies on the handler importing json"
    handler.write_text(source + EDIT)
    plan = deployment.plan()
    # The zip is rebuilt (its content hash changed) and the function's code updated in place: not replaced.
    assert {address: change.action for address, change in plan.changes.items()} == {
        "terraform_data.package": "replace",
        "aws_lambda_function.this": "update",
    }, str(plan)
    deployment.apply()

    after = lambda_client.get_function_configuration(FunctionName=name)
    assert after["CodeSha256"] != before["CodeSha256"]
    # In place: same function and same URL (a replacement would give the URL a new id).
    assert after["FunctionArn"] == before["FunctionArn"]
    assert deployment.function_url == url_before
    assert deployment.outputs["source_code_hash"] != hash_before

    with deployment.session() as session:
        response = post_json(session, deployment.function_url, {"number": 6})
    assert response.status_code == 200
    assert response.json() == {"result": 36, "edited": True}
    direct = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"number": 6}).encode())
    assert json.loads(direct["Payload"].read()) == {"result": 36, "edited": True}

    assert not deployment.plan().has_changes

    outputs = dict(deployment.outputs)
    deployment.destroy()
    assert (
        leftovers(
            deployment.endpoint,
            function_name=outputs["function_name"],
            role_name=outputs["role_name"],
            log_group_name=outputs["log_group_name"],
        )
        == []
    )
