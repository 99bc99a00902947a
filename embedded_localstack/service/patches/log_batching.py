"""Batched Lambda log shipping (tuning; behaviour-preserving, docs/benchmarks.md).

LocalStack is one Python process: every Function URL call costs it CPU under one GIL, and on a 2-core machine that
CPU is what bounds throughput.

Lambda's log shipping makes one ``PutLogEvents`` call (a full AWS request: botocore serialisation and
signing, the handler chain, moto) per invocation: ~35 % of LocalStack's CPU per warm Function URL call. The
invocations' logs are collected until none arrived for ``LOG_IDLE_S`` or the first has waited
``LOG_MAX_WAIT_S``, then shipped in one call per log stream (at most 10 000 events each, CloudWatch's limit),
in order, with the same events; each invocation's timestamp is taken when its logs arrive (LocalStack takes
it when it ships them). A lone invocation's logs reach CloudWatch Logs ``LOG_IDLE_S`` later, under steady
traffic at most ``LOG_MAX_WAIT_S`` later; AWS delivers them asynchronously too, typically within seconds.
Every shipment holds LocalStack's GIL for a few ms, stalling the Function URL call in flight; shipping once a
second under load instead of every 100 ms puts that stall on ~0.2 % of the calls instead of ~3 % (warm p99).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from typing import Any

from embedded_localstack.service.limits import CLOUDWATCH_BATCH_BYTES, CLOUDWATCH_MAX_EVENTS_PER_PUT

log = logging.getLogger(__name__)

MAX_LOG_ITEMS_PER_BATCH = 1024
MAX_LOG_BATCH_BYTES = CLOUDWATCH_BATCH_BYTES // 2
MAX_EVENTS_PER_PUT = CLOUDWATCH_MAX_EVENTS_PER_PUT
LOG_IDLE_S = 0.1
"""A batch of invocations' logs ships once no more logs arrived for this long ..."""
LOG_MAX_WAIT_S = 1.0
"""... or once its first invocation's logs have waited this long (invocations keep coming)."""


def batch_lambda_log_shipping() -> None:
    from localstack.services.lambda_.invocation import logs as lambda_logs

    if getattr(lambda_logs.LogHandler.run_log_loop, "batched", False):
        return
    lambda_logs.LogHandler.run_log_loop = _batched_run_log_loop


def _now_ms() -> int:
    return int(time.time() * 1000)


def _take_batch(
    log_queue: queue.Queue,
    first: Any,
    shutdown_pill: Any,
    idle_s: float | None = None,
    max_wait_s: float | None = None,
) -> tuple[list[tuple[int, Any]], bool]:
    """``first`` plus what follows with gaps under ``idle_s``, for at most ``max_wait_s`` (and bounded in size).

    Each item comes with its arrival time in ms. True if the shutdown pill came: the batch is shipped at once, and
    the loop ends.
    """
    idle_s = LOG_IDLE_S if idle_s is None else idle_s
    max_wait_s = LOG_MAX_WAIT_S if max_wait_s is None else max_wait_s
    batch, size = [(_now_ms(), first)], len(first.logs)
    deadline = time.monotonic() + max_wait_s
    while len(batch) < MAX_LOG_ITEMS_PER_BATCH and size < MAX_LOG_BATCH_BYTES:
        remaining = min(idle_s, deadline - time.monotonic())
        try:
            item = log_queue.get(timeout=remaining) if remaining > 0 else log_queue.get_nowait()
        except queue.Empty:
            return batch, False
        if item is shutdown_pill:
            return batch, True
        batch.append((_now_ms(), item))
        size += len(item.logs)
    return batch, False


def _events_by_stream(batch: list[tuple[int, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """LocalStack's split of each invocation's logs into events (one timestamp per invocation), per stream, in order."""
    streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for timestamp, item in batch:
        events = streams.setdefault((item.log_group, item.log_stream), [])
        events.extend({"timestamp": timestamp, "message": line + "\n"} for line in item.logs.split("\n") if line)
    return streams


def _put_sized_chunks(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """One stream's events in order, split into PutLogEvents calls of at most ``MAX_EVENTS_PER_PUT`` events."""
    return [events[start : start + MAX_EVENTS_PER_PUT] for start in range(0, len(events), MAX_EVENTS_PER_PUT)]


def _batched_run_log_loop(self: Any, *args: Any, **kwargs: Any) -> None:
    """LocalStack's ``LogHandler.run_log_loop`` (4.9.2), shipping invocations' logs that arrive together at once."""
    from localstack.aws.connect import connect_to
    from localstack.services.lambda_.invocation.logs import LOG as LAMBDA_LOGS_LOG
    from localstack.services.lambda_.invocation.logs import QUEUE_SHUTDOWN
    from localstack.utils.aws.client_types import ServicePrincipal

    logs_client = connect_to.with_assumed_role(
        region_name=self.region, role_arn=self.role_arn, service_principal=ServicePrincipal.lambda_
    ).logs
    # The first shipment creates the function's log group and stream (and may load the logs service): it goes
    # out after at most LOG_IDLE_S, as soon as LocalStack would ship it, so that one-off work is done early.
    max_wait_s = LOG_IDLE_S
    while not self._shutdown_event.is_set():
        first = self.log_queue.get()
        if first is QUEUE_SHUTDOWN:
            return
        batch, shutdown = _take_batch(self.log_queue, first, QUEUE_SHUTDOWN, max_wait_s=max_wait_s)
        max_wait_s = LOG_MAX_WAIT_S
        for (group, stream), events in _events_by_stream(batch).items():
            for chunk in _put_sized_chunks(events):
                _put_log_events(logs_client, group, stream, chunk, self.region, LAMBDA_LOGS_LOG)
        if shutdown:
            return


_batched_run_log_loop.batched = True  # type: ignore[attr-defined]


def _put_log_events(
    client: Any, group: str, stream: str, events: list[dict[str, Any]], region: str, lambda_log: logging.Logger
) -> None:
    try:
        try:
            client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        except client.exceptions.ResourceNotFoundException:
            # As LocalStack does: the first invocation of a function creates its group and stream.
            with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
                client.create_log_group(logGroupName=group)
            client.create_log_stream(logGroupName=group, logStreamName=stream)
            client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    except Exception as error:
        lambda_log.warning("Error saving logs to group %s in region %s: %s", group, region, error)
