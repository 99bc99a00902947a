"""``AddPermission`` carries AWS's ``InvokedViaFunctionUrl`` (October 2025), which LocalStack 4.9.2 drops.

Since October 2025 a new public Function URL needs a second statement, ``lambda:InvokeFunction`` limited to URL
invocations, which clients add with ``AddPermission(..., InvokedViaFunctionUrl=True)`` (botocore releases since
October 2025, ``aws lambda add-permission --invoked-via-function-url``, hashicorp/aws 6.29
``invoked_via_function_url``).
LocalStack parses requests with its botocore's Lambda spec (1.40.40), which predates the member, so the parser
drops it and the statement comes out unconditional. This adds the member to LocalStack's spec (a JSON patch, as
LocalStack's own ``spec-patches.json`` does) and AWS's condition to the statement:
``"Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}``, visible in ``GetPolicy`` and checked by
:mod:`.function_url_auth` when the strict policy is on. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import functools
import json
from typing import Any

SPEC = "lambda/2015-03-31/service-2"
MEMBER = "InvokedViaFunctionUrl"
CONDITION_KEY = "lambda:InvokedViaFunctionUrl"
SPEC_PATCH = [
    {"op": "add", "path": f"/shapes/{MEMBER}", "value": {"type": "boolean"}},
    {
        "op": "add",
        "path": f"/shapes/AddPermissionRequest/members/{MEMBER}",
        "value": {
            "shape": MEMBER,
            "documentation": "<p>Indicates whether the permission applies when the function is invoked through a "
            "function URL.</p>",
        },
    },
]


def _stored_statement(statement: dict[str, Any]) -> dict[str, Any] | None:
    """The policy statement LocalStack just stored (same Sid, same resource), to be changed in place."""
    from localstack.services.lambda_.api_utils import FULL_FN_ARN_PATTERN
    from localstack.services.lambda_.invocation.models import lambda_stores

    match = FULL_FN_ARN_PATTERN.search(statement["Resource"])
    if match is None:
        return None
    arn = match.groupdict()
    function = lambda_stores[arn["account_id"]][arn["region_name"]].functions.get(arn["function_name"])
    policy = function.permissions.get(arn.get("qualifier") or "$LATEST") if function is not None else None
    for stored in policy.policy.Statement if policy is not None else []:
        if stored.get("Sid") == statement["Sid"] and stored.get("Resource") == statement["Resource"]:
            return stored
    return None


def carry_invoked_via_function_url() -> None:
    """LocalStack's Lambda spec gets the member and AddPermission writes the condition (idempotent; before start)."""
    from localstack.aws.spec import loader
    from localstack.services.lambda_.provider import LambdaProvider

    patches = loader.patches.setdefault(SPEC, [])
    if SPEC_PATCH[0] not in patches:
        patches.extend(SPEC_PATCH)
    add_permission = LambdaProvider.add_permission
    if getattr(add_permission, "carries_invoked_via_function_url", False):
        return

    @functools.wraps(add_permission)  # keeps the @handler("AddPermission") markers the dispatch table looks for
    def add_permission_with_url_condition(self: Any, context: Any, request: Any) -> Any:
        invoked_via_url = bool(request.pop(MEMBER, False))
        response = add_permission(self, context, request)
        if not invoked_via_url:
            return response
        statement = json.loads(response["Statement"])
        stored = _stored_statement(statement)
        for target in (statement, stored) if stored is not None else (statement,):
            target.setdefault("Condition", {}).setdefault("Bool", {})[CONDITION_KEY] = "true"
        response["Statement"] = json.dumps(statement)
        return response

    add_permission_with_url_condition.carries_invoked_via_function_url = True  # type: ignore[attr-defined]
    LambdaProvider.add_permission = add_permission_with_url_condition
