"""An apply that fails halfway fails loudly (Terraform's error in the exception) and is still destroyed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.errors import TerraformError
from lambda_url_harness.square.module import leftovers

pytestmark = pytest.mark.acceptance


def test_half_applied_deployment_is_destroyed(
    deploy_module: Callable[..., Deployment], aws_client: Callable[[str], Any]
) -> None:
    deployment = deploy_module(apply=False)
    function_name = f"square-{deployment.suffix}"
    role_name = f"{function_name}-role"
    iam = aws_client("iam")
    # A role squatting on the module's role name: creating the role fails, while the
    # independent log group is created in the same walk -> a half-applied stack.
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    try:
        with pytest.raises(TerraformError) as error:
            deployment.apply()
        assert "failed with exit code 1" in str(error.value)
        assert "EntityAlreadyExists" in str(error.value)
        assert deployment.tflocal.has_state(), "expected the log group in the state of the failed apply"

        deployment.destroy()
        assert not deployment.tflocal.has_state()
        found = leftovers(
            deployment.endpoint,
            function_name=function_name,
            role_name=role_name,
            log_group_name=f"/aws/lambda/{function_name}",
        )
        assert found == [f"role {role_name}"]  # only the squatter, which Terraform never owned
    finally:
        iam.delete_role(RoleName=role_name)
