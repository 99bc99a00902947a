"""Is a LocalStack answering at an endpoint, and does it serve what we need: the one rule for every caller.

The embedded launcher (reuse a running one, wait for a started one) and the harness's discovery (take a found one,
wait for a Docker container) both ask here. Standard library + requests; never imports localstack.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests

DEFAULT_SERVICES = ("iam", "lambda", "sts", "logs")
"""What a Lambda behind a Function URL needs: its role (iam), the function, credentials (sts), its log group (logs).
Every LocalStack we start serves them; a found one must."""
COMMUNITY_SERVICES = frozenset(
    [
        "acm",
        "apigateway",
        "cloudformation",
        "cloudwatch",
        "config",
        "dynamodb",
        "dynamodbstreams",
        "ec2",
        "es",
        "events",
        "firehose",
        "iam",
        "kinesis",
        "kms",
        "lambda",
        "logs",
        "opensearch",
        "redshift",
        "resource-groups",
        "resourcegroupstaggingapi",
        "route53",
        "route53resolver",
        "s3",
        "s3control",
        "scheduler",
        "secretsmanager",
        "ses",
        "sns",
        "sqs",
        "ssm",
        "stepfunctions",
        "sts",
        "support",
        "swf",
        "transcribe",
    ]
)
"""The services localstack-core 4.9.2 (community) provides: its ``localstack.aws.provider`` entry points."""
UNUSABLE_STATES = frozenset({"disabled", "error", "stopping", "stopped"})
"""Service states in ``/_localstack/health`` that do not count as served. LocalStack refuses a disabled service and
re-raises a failed start (error); it would restart a stopped one on demand, but a LocalStack that is shutting down
reports its services stopping and stopped: it is going away. (``available``: loaded on first use; ``starting``,
``running``: served.)"""
HEALTH_PATH = "/_localstack/health"


def parse_services(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"s3, sqs"`` or ``["s3", "sqs"]`` -> :data:`DEFAULT_SERVICES` plus these, validated, in a stable order.

    Raises ValueError naming any service LocalStack's community edition does not provide."""
    names = text.split(",") if isinstance(text, str) else list(text)
    wanted = [name.strip().lower() for name in names if name.strip()]
    unknown = sorted(set(wanted) - COMMUNITY_SERVICES)
    if unknown:
        raise ValueError(
            f"unknown LocalStack service(s): {', '.join(unknown)}; the embedded LocalStack "
            f"(localstack-core 4.9.2) provides: {', '.join(sorted(COMMUNITY_SERVICES))}"
        )
    return tuple(dict.fromkeys([*DEFAULT_SERVICES, *wanted]))


def _get(endpoint: str, timeout_s: float) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment must not answer for loopback
        return session.get(f"{endpoint.rstrip('/')}{HEALTH_PATH}", timeout=timeout_s)


def health(endpoint: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The ``/_localstack/health`` document at ``endpoint``, or None when nothing (or not LocalStack) answers."""
    try:
        response = _get(endpoint, timeout_s)
        document = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("services"), dict) else None


def is_healthy(endpoint: str, timeout_s: float = 2.0) -> bool:
    """True if a LocalStack answers ``/_localstack/health`` at ``endpoint``."""
    return health(endpoint, timeout_s) is not None


def unusable_services(document: Mapping[str, Any], services: Sequence[str]) -> list[str]:
    """The ``services`` a health document reports as not served (absent, or in one of :data:`UNUSABLE_STATES`)."""
    states = document.get("services") or {}
    return [name for name in services if states.get(name, "disabled") in UNUSABLE_STATES]


def describe_non_localstack(endpoint: str, timeout_s: float = 2.0) -> str:
    """What answers at ``endpoint`` instead of LocalStack, for error messages (e.g. a squatter on 4566)."""
    try:
        response = _get(endpoint, timeout_s)
    except requests.ConnectionError as exc:
        if "refused" in str(exc).lower():
            return f"nothing listens at {endpoint}"
        return f"something at {endpoint} accepts connections but speaks no HTTP ({type(exc).__name__})"
    except requests.Timeout:
        return f"something at {endpoint} accepts connections but does not answer within {timeout_s:.0f} s"
    except requests.RequestException as exc:
        return f"no usable answer from {endpoint} ({type(exc).__name__}: {exc})"
    server = response.headers.get("Server", "")
    return (
        f"{endpoint} answers {HEALTH_PATH} with HTTP {response.status_code}"
        f"{f' (Server: {server})' if server else ''}: that is not LocalStack"
    )


def check_endpoint(endpoint: str, services: Sequence[str], timeout_s: float = 2.0) -> str | None:
    """None when ``endpoint`` is a healthy LocalStack serving ``services``, else the reason."""
    document = health(endpoint, timeout_s)
    if document is None:
        return describe_non_localstack(endpoint, timeout_s)
    missing = unusable_services(document, services)
    if missing:
        return f"LocalStack at {endpoint} lacks services {', '.join(missing)} (set SERVICES to include them)"
    return None


def wait_healthy(
    endpoint: str,
    services: Sequence[str],
    timeout_s: float,
    *,
    interval_s: float = 1.0,
    request_timeout_s: float = 2.0,
    gone: Callable[[], bool] | None = None,
) -> str | None:
    """Poll until ``endpoint`` serves ``services``: None then, else the last reason. Bounded by time and count.

    ``gone``: the process that should answer has ended; waiting longer cannot help (the reason says so)."""
    deadline = time.monotonic() + timeout_s
    reason = "not checked"
    for _ in range(max(1, int(timeout_s / interval_s))):
        reason = check_endpoint(endpoint, services, request_timeout_s) or ""
        if not reason:
            return None
        if gone is not None and gone():
            return f"the process ended: {reason}"
        if time.monotonic() > deadline:  # each check may itself wait for a silent squatter
            break
        time.sleep(interval_s)
    return reason
