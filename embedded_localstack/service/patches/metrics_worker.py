"""Invocation metrics recorded on one worker thread instead of a new thread each (tuning; behaviour-preserving)."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any

from embedded_localstack.service.patches.thread_names import name_os_thread

log = logging.getLogger(__name__)

METRICS_THREAD_NAME = "lambda-metrics"
"""OS-level name of the worker thread that records invocation metrics."""
METRICS_THREAD_PREFIX = "record-cloudwatch-metric"
"""The names LocalStack 4.9.2 gives the thread it starts per invocation to record its CloudWatch metrics."""


def record_invocation_metrics_on_one_thread() -> None:
    """The per-invocation CloudWatch metric records run in order on one worker thread instead of a new thread each.

    LocalStack 4.9.2 starts a thread per invocation for them (``start_thread``), and keeps every one of those
    thread objects in ``localstack.utils.threads.TMP_THREADS`` until shutdown: memory that grows with every
    invocation and that each full garbage collection walks. Same records, same order, same CloudWatch calls (none
    unless the cloudwatch service runs).
    """
    from localstack.services.lambda_.invocation import version_manager

    if getattr(version_manager.start_thread, "metrics_on_one_thread", False):
        return
    start_thread = version_manager.start_thread
    worker = concurrent.futures.ThreadPoolExecutor(
        max_workers=1,
        thread_name_prefix=METRICS_THREAD_NAME,
        initializer=name_os_thread,
        initargs=(METRICS_THREAD_NAME,),
    )

    def record(method: Callable[..., Any]) -> None:
        try:
            method(None)  # LocalStack's FuncThread calls it with its params (None)
        except Exception:
            log.exception("recording an invocation's CloudWatch metrics failed")

    def start_thread_or_queue(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("name", "")).startswith(METRICS_THREAD_PREFIX) and not args:
            return worker.submit(record, method)
        return start_thread(method, *args, **kwargs)

    start_thread_or_queue.metrics_on_one_thread = True  # type: ignore[attr-defined]
    version_manager.start_thread = start_thread_or_queue
