"""What a deployment's Lambda functions logged: their CloudWatch log groups, read back through the Logs API.

A function's log group is the one its configuration names (``LoggingConfig.LogGroup``), by default
``/aws/lambda/<name>``, as on AWS. Its lines are the function's own output, the runtime's tracebacks (an import
error at init included) and the platform's ``START``/``END``/``REPORT`` lines; on the embedded LocalStack also an
init failure and a timeout (docs/embedded-mode.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_url_harness.aws import DEFAULT_REGION, localstack_client
from lambda_url_harness.inventory import is_not_found
from lambda_url_harness.terraform.state import TerraformState

MAX_EVENTS = 10_000
"""At most this many events are read per call (the newest ``limit`` of them are returned)."""


@dataclass(frozen=True)
class LogLine:
    timestamp: float
    """When it was logged, in seconds since the epoch."""
    message: str
    stream: str = ""

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.timestamp))
        return f"{clock}.{int(self.timestamp * 1000) % 1000:03d} {self.message}"


def function_names(state: TerraformState) -> list[str]:
    """The ``function_name`` of every ``aws_lambda_function`` instance the state lists, in state order."""
    return [
        str(instance.attributes["function_name"])
        for resource, instance in state.aws_instances()
        if resource.type == "aws_lambda_function" and instance.attributes.get("function_name")
    ]


def log_group_of(endpoint: str, function: str, region: str = DEFAULT_REGION) -> str:
    """The log group ``function`` writes to (its ``LoggingConfig``), ``/aws/lambda/<function>`` by default."""
    default = f"/aws/lambda/{function}"
    try:
        configuration = localstack_client("lambda", endpoint, region).get_function_configuration(FunctionName=function)
    except ClientError as error:
        if is_not_found(error):
            return default
        raise
    return str((configuration.get("LoggingConfig") or {}).get("LogGroup") or default)


def read_log_group(
    endpoint: str, group: str, *, region: str = DEFAULT_REGION, since: float | None = None, limit: int = 100
) -> list[LogLine]:
    """The newest ``limit`` lines of log group ``group`` (from ``since`` on, if given), oldest first; [] when the
    group does not exist (yet)."""
    logs = localstack_client("logs", endpoint, region)
    request: dict[str, Any] = {"logGroupName": group}
    if since is not None:
        request["startTime"] = int(since * 1000)
    events: list[dict[str, Any]] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**request):
            events += page.get("events", [])
            if len(events) >= MAX_EVENTS:
                break
    except ClientError as error:
        if is_not_found(error):
            return []
        raise
    events.sort(key=lambda event: (event.get("timestamp", 0), event.get("ingestionTime", 0)))
    return [
        LogLine(
            event.get("timestamp", 0) / 1000, str(event.get("message", "")).rstrip("\n"), event.get("logStreamName", "")
        )
        for event in events[-limit:]
    ]


def function_log(
    endpoint: str, function: str, *, region: str = DEFAULT_REGION, since: float | None = None, limit: int = 100
) -> list[LogLine]:
    """The newest ``limit`` lines ``function`` logged (from ``since`` on), oldest first."""
    return read_log_group(endpoint, log_group_of(endpoint, function, region), region=region, since=since, limit=limit)


def describe_log(endpoint: str, group: str, *, region: str = DEFAULT_REGION, limit: int = 30) -> str:
    """The last ``limit`` lines of a log group under a heading, for error messages; says so when it cannot be read."""
    try:
        lines = read_log_group(endpoint, group, region=region, limit=limit)
    except (BotoCoreError, ClientError) as error:
        return f"(could not read log group {group}: {error})"
    return f"--- last {len(lines)} lines of log group {group} ---\n" + "\n".join(line.message for line in lines)
