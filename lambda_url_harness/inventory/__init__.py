"""What a deployment left behind after its destroy, asked of LocalStack itself.

:mod:`.probes` knows, per resource type, how to ask whether one resource (named by the attributes its state recorded)
still exists; :mod:`.check` runs them over a state taken before the destroy and names every survivor. AWS's NotFound
rule, shared by both and by the square module's own check (:func:`lambda_url_harness.square.module.leftovers`), is
here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",  # Lambda, CloudWatch Logs, DynamoDB, Secrets Manager, Kinesis, EventBridge
        "NoSuchEntity",  # IAM
        "NoSuchEntityException",
        "NoSuchBucket",  # S3
        "NoSuchKey",
        "NoSuchBucketPolicy",
        "404",  # S3 HEAD requests carry no error body: the status is the code
        "NotFound",  # SNS
        "NotFoundException",  # KMS
        "AWS.SimpleQueueService.NonExistentQueue",  # SQS (query protocol)
        "QueueDoesNotExist",  # SQS (JSON protocol)
        "ParameterNotFound",  # SSM
    }
)
"""Error codes with which AWS APIs say that a resource does not exist."""


def is_not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


def found(call: Callable[..., Any], **kwargs: Any) -> Any | None:
    """What a describe/get call answers, or None when it says NotFound; other errors raised."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def exists(call: Callable[..., Any], **kwargs: Any) -> bool:
    """Whether a describe/get call finds its resource: False on a NotFound error, other errors raised."""
    return found(call, **kwargs) is not None
