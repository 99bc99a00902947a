"""The typed plan: Terraform's ``show -json`` document as resource changes by address and action, and outputs."""

from __future__ import annotations

from lambda_url_harness.terraform.plan import Plan

DOCUMENT = {
    "format_version": "1.2",
    "resource_changes": [
        {"address": "aws_iam_role.r", "type": "aws_iam_role", "name": "r", "change": {"actions": ["no-op"]}},
        {
            "address": 'aws_lambda_function.f["api"]',
            "type": "aws_lambda_function",
            "name": "f",
            "change": {"actions": ["update"], "before": {"timeout": 3}, "after": {"timeout": 10}},
        },
        {
            "address": "terraform_data.zip",
            "type": "terraform_data",
            "name": "zip",
            "change": {"actions": ["delete", "create"], "replace_paths": [["triggers_replace"]]},
        },
        {
            "address": "data.aws_caller_identity.me",
            "type": "aws_caller_identity",
            "name": "me",
            "change": {"actions": ["read"]},
        },
    ],
    "output_changes": {
        "url": {"actions": ["no-op"], "before": "http://x/", "after": "http://x/"},
        "arn": {"actions": ["update"], "after_unknown": True},
    },
    "planned_values": {"outputs": {"url": {"value": "http://x/"}, "arn": {"sensitive": False}}},
}


def test_changes_by_address_and_action() -> None:
    plan = Plan.from_json(DOCUMENT)
    assert {address: change.action for address, change in plan.resource_changes.items()} == {
        "aws_iam_role.r": "no-op",
        'aws_lambda_function.f["api"]': "update",
        "terraform_data.zip": "replace",
        "data.aws_caller_identity.me": "read",
    }
    assert list(plan.changes) == ['aws_lambda_function.f["api"]', "terraform_data.zip"]
    assert plan.addresses("replace") == ["terraform_data.zip"]
    update = plan.resource_changes['aws_lambda_function.f["api"]']
    assert (update.before, update.after) == ({"timeout": 3}, {"timeout": 10})
    assert plan.resource_changes["terraform_data.zip"].replace_paths == (["triggers_replace"],)
    assert plan.has_changes
    assert plan.summary() == "update 1, replace 1, outputs arn"


def test_outputs_known_at_plan_time_only() -> None:
    plan = Plan.from_json(DOCUMENT)
    assert plan.outputs == {"url": "http://x/"}
    assert plan.output_changes["arn"].after_unknown


def test_an_empty_plan() -> None:
    plan = Plan.from_json({"format_version": "1.2", "resource_changes": [DOCUMENT["resource_changes"][0]]})
    assert not plan.has_changes
    assert str(plan) == "no changes"
