"""Per resource type: does the resource a state instance names still exist? Asked of the AWS API with boto3.

A probe reads the attributes the aws provider recorded (``function_name``, ``bucket``, ``arn``, ...) and asks the
service directly, independently of the provider (whose delete is what is being checked). Sub-resources are gone
with their parent (a permission with its function, an object with its bucket). A type without a probe here is
checked by the provider's own refresh instead (:mod:`.check`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambda_url_harness.inventory import exists, found

Attributes = Mapping[str, Any]


@dataclass(frozen=True)
class Probe:
    service: str
    """The boto3 client the probe asks."""
    exists: Callable[[Any, Attributes], bool]
    """True while the resource exists; False on the service's NotFound; other errors propagate."""
    describe: Callable[[Attributes], str]
    """How the resource is named in a message, e.g. ``function square-1a2b3c``."""


def _qualified(attributes: Attributes) -> dict[str, str]:
    qualifier = attributes.get("qualifier")
    return {"Qualifier": str(qualifier)} if qualifier else {}


def _lambda_permission(client: Any, attributes: Attributes) -> bool:
    answer = found(client.get_policy, FunctionName=attributes["function_name"], **_qualified(attributes))
    if answer is None:  # no function, or no policy left on it
        return False
    statements = json.loads(answer["Policy"])["Statement"]
    return any(statement.get("Sid") == attributes["statement_id"] for statement in statements)


def _role_policy_attachment(client: Any, attributes: Attributes) -> bool:
    answer = found(client.list_attached_role_policies, RoleName=attributes["role"], MaxItems=1000)
    return answer is not None and any(
        policy["PolicyArn"] == attributes["policy_arn"] for policy in answer["AttachedPolicies"]
    )


def _log_group(client: Any, attributes: Attributes) -> bool:
    name = attributes["name"]
    groups = client.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return any(group["logGroupName"] == name for group in groups)


def _bucket_notification(client: Any, attributes: Attributes) -> bool:
    configuration = found(client.get_bucket_notification_configuration, Bucket=attributes["bucket"]) or {}
    kinds = ("QueueConfigurations", "TopicConfigurations", "LambdaFunctionConfigurations", "EventBridgeConfiguration")
    return any(configuration.get(kind) for kind in kinds)


def _queue_policy(client: Any, attributes: Attributes) -> bool:
    answer = found(client.get_queue_attributes, QueueUrl=attributes["queue_url"], AttributeNames=["Policy"]) or {}
    return bool(answer.get("Attributes", {}).get("Policy"))


def _secret(client: Any, attributes: Attributes) -> bool:
    secret = found(client.describe_secret, SecretId=attributes["arn"])
    return secret is not None and "DeletedDate" not in secret  # scheduled for deletion is how it deletes


def _kms_key(client: Any, attributes: Attributes) -> bool:
    key = found(client.describe_key, KeyId=attributes["key_id"])
    return key is not None and key["KeyMetadata"]["KeyState"] not in ("PendingDeletion", "PendingReplicaDeletion")


def _call(method: str, **parameters: str) -> Callable[[Any, Attributes], bool]:
    """A probe that calls ``method`` with request parameters taken from attributes (``Parameter="attribute"``)."""

    def probe(client: Any, attributes: Attributes) -> bool:
        return exists(getattr(client, method), **{key: attributes[name] for key, name in parameters.items()})

    return probe


def _named(kind: str, attribute: str) -> Callable[[Attributes], str]:
    return lambda attributes: f"{kind} {attributes.get(attribute, '?')}"


PROBES: dict[str, Probe] = {
    "aws_lambda_function": Probe(
        "lambda", _call("get_function", FunctionName="function_name"), _named("function", "function_name")
    ),
    "aws_lambda_function_url": Probe(
        "lambda",
        lambda client, attributes: exists(
            client.get_function_url_config, FunctionName=attributes["function_name"], **_qualified(attributes)
        ),
        _named("function URL of", "function_name"),
    ),
    "aws_lambda_event_source_mapping": Probe(
        "lambda",
        lambda client, attributes: exists(
            client.get_event_source_mapping, UUID=attributes.get("uuid") or attributes["id"]
        ),
        lambda attributes: (
            f"event source mapping {attributes.get('event_source_arn')} -> {attributes.get('function_name')}"
        ),
    ),
    "aws_lambda_permission": Probe(
        "lambda",
        _lambda_permission,
        lambda attributes: f"permission {attributes.get('statement_id')} of function {attributes.get('function_name')}",
    ),
    "aws_lambda_alias": Probe(
        "lambda", _call("get_alias", FunctionName="function_name", Name="name"), _named("alias", "arn")
    ),
    "aws_lambda_layer_version": Probe(
        "lambda", _call("get_layer_version_by_arn", Arn="arn"), _named("layer version", "arn")
    ),
    "aws_iam_role": Probe("iam", _call("get_role", RoleName="name"), _named("role", "name")),
    "aws_iam_role_policy": Probe(
        "iam",
        _call("get_role_policy", RoleName="role", PolicyName="name"),
        lambda attributes: f"inline policy {attributes.get('name')} of role {attributes.get('role')}",
    ),
    "aws_iam_policy": Probe("iam", _call("get_policy", PolicyArn="arn"), _named("policy", "arn")),
    "aws_iam_role_policy_attachment": Probe(
        "iam",
        _role_policy_attachment,
        lambda attributes: f"policy {attributes.get('policy_arn')} attached to role {attributes.get('role')}",
    ),
    "aws_iam_user": Probe("iam", _call("get_user", UserName="name"), _named("user", "name")),
    "aws_iam_instance_profile": Probe(
        "iam", _call("get_instance_profile", InstanceProfileName="name"), _named("instance profile", "name")
    ),
    "aws_cloudwatch_log_group": Probe("logs", _log_group, _named("log group", "name")),
    "aws_s3_bucket": Probe("s3", _call("head_bucket", Bucket="bucket"), _named("bucket", "bucket")),
    "aws_s3_object": Probe(
        "s3",
        _call("head_object", Bucket="bucket", Key="key"),
        lambda attributes: f"object s3://{attributes.get('bucket')}/{attributes.get('key')}",
    ),
    "aws_s3_bucket_notification": Probe("s3", _bucket_notification, _named("notifications of bucket", "bucket")),
    "aws_s3_bucket_policy": Probe(
        "s3", _call("get_bucket_policy", Bucket="bucket"), _named("policy of bucket", "bucket")
    ),
    "aws_sqs_queue": Probe("sqs", _call("get_queue_attributes", QueueUrl="id"), _named("queue", "name")),
    "aws_sqs_queue_policy": Probe("sqs", _queue_policy, _named("policy of queue", "queue_url")),
    "aws_sns_topic": Probe("sns", _call("get_topic_attributes", TopicArn="arn"), _named("topic", "arn")),
    "aws_sns_topic_subscription": Probe(
        "sns", _call("get_subscription_attributes", SubscriptionArn="arn"), _named("subscription", "arn")
    ),
    "aws_dynamodb_table": Probe("dynamodb", _call("describe_table", TableName="name"), _named("table", "name")),
    "aws_ssm_parameter": Probe("ssm", _call("get_parameter", Name="name"), _named("parameter", "name")),
    "aws_secretsmanager_secret": Probe("secretsmanager", _secret, _named("secret", "arn")),
    "aws_cloudwatch_event_rule": Probe(
        "events", _call("describe_rule", Name="name", EventBusName="event_bus_name"), _named("event rule", "name")
    ),
    "aws_kinesis_stream": Probe(
        "kinesis", _call("describe_stream_summary", StreamName="name"), _named("stream", "name")
    ),
    "aws_kms_key": Probe("kms", _kms_key, _named("key", "key_id")),
}
"""The resource types asked directly; every other aws type is checked by a refresh."""
