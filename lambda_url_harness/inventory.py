"""Checking what a deployment left behind after its destroy: the interface, and the one NotFound rule.

A module's check is a :class:`LeftoverCheck`: given the endpoint and the deployment's outputs (read before the
destroy), it describes every resource that still exists. The square module's is
:func:`lambda_url_harness.square.module.leftovers_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException"})
"""Error codes with which AWS APIs (Lambda, IAM, CloudWatch Logs) say that a resource does not exist."""


class LeftoverCheck(Protocol):
    def __call__(self, endpoint: str, outputs: Mapping[str, Any]) -> list[str]:
        """Descriptions of the resources that survived the destroy; empty when all are gone."""
        ...


def exists(call: Callable[..., Any], **kwargs: Any) -> bool:
    """Whether a describe/get call finds its resource: False on a NotFound error, other errors raised."""
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
            return False
        raise
    return True
