"""A second, unrelated module (tests/modules/echo) used only through the pytest plugin's fixtures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_url_harness.deployment import Deployment

pytestmark = pytest.mark.acceptance

ECHO_MODULE = "tests/modules/echo"  # relative to pytest's rootdir


def test_echo_module_deploys_answers_and_destroys(
    terraform_deploy: Callable[..., Deployment], aws_client: Callable[[str], Any]
) -> None:
    deployment = terraform_deploy(
        ECHO_MODULE, {"name": "echo-{suffix}", "greeting": "hi from {suffix}", "python_executable": sys.executable}
    )
    name = f"echo-{deployment.suffix}"
    assert deployment.outputs["function_name"] == name
    assert deployment.outputs["url"].startswith("http")

    response = deployment.http.post(deployment.outputs["url"] + "path?x=1", json={"ping": 1}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "greeting": f"hi from {deployment.suffix}",
        "method": "POST",
        "path": "/path",
        "query": {"x": "1"},
        "body": '{"ping": 1}',
    }

    deployment.destroy()
    deployment.destroy()  # idempotent
    assert deployment.outputs == {}
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws_client("lambda").get_function(FunctionName=name)
    with pytest.raises(ClientError, match="NoSuchEntity"):
        aws_client("iam").get_role(RoleName=f"{name}-role")
