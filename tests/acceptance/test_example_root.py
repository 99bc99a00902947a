"""The module called from another root configuration: examples/localstack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.function_url import post_json
from lambda_url_harness.square.module import leftovers, wait_for_first_200

pytestmark = pytest.mark.acceptance


def test_example_root_deploys_answers_and_destroys_cleanly(
    deploy_module: Callable[..., Deployment], localstack_endpoint: str, aws_client: Callable[[str], Any]
) -> None:
    function_name = "square-ex-{suffix}"
    deployment = deploy_module(
        "examples/localstack",
        {"function_name": function_name, "localstack_endpoint": localstack_endpoint},
    )
    wait_for_first_200(deployment)
    assert deployment.outputs["function_name"] == function_name.format(suffix=deployment.suffix)
    with deployment.session() as session:
        response = post_json(session, deployment.function_url, {"number": 6})
    assert (response.status_code, response.json()) == (200, {"result": 36})

    name = deployment.outputs["function_name"]
    role_arn = aws_client("lambda").get_function_configuration(FunctionName=name)["Role"]
    deployment.destroy()
    assert (
        leftovers(
            localstack_endpoint,
            function_name=name,
            role_name=role_arn.rsplit("/", 1)[-1],
            log_group_name=f"/aws/lambda/{name}",
        )
        == []
    )
