"""CPU savings inside the embedded LocalStack process, each one behaviour-preserving (see docs/benchmarks.md).

LocalStack is one Python process: every Function URL call costs it CPU under one GIL, and on a 2-core machine
that CPU is what bounds throughput. Profiles (py-spy) of warm calls showed costs that do not change what any
client observes and can be cut here:

* twisted parses the Content-Type of every POST with ``email.message.EmailMessage`` (header registry, policy
  objects) just to compare it with form types; the function is pure, so its results are memoised.
* Lambda's log shipping makes one ``PutLogEvents`` call (a full AWS request: botocore serialisation and
  signing, the handler chain, moto) per invocation: ~35 % of LocalStack's CPU per warm Function URL call. The
  invocations' logs are collected until none arrived for ``LOG_IDLE_S`` or the first has waited
  ``LOG_MAX_WAIT_S``, then shipped in one call per log stream (at most 10 000 events each, CloudWatch's limit),
  in order, with the same events; each invocation's timestamp is taken when its logs arrive (LocalStack takes
  it when it ships them). A lone invocation's logs reach CloudWatch Logs ``LOG_IDLE_S`` later, under steady
  traffic at most ``LOG_MAX_WAIT_S`` later; AWS delivers them asynchronously too, typically within seconds.
  Every shipment holds LocalStack's GIL for a few ms, stalling the Function URL call in flight; shipping once a
  second under load instead of every 100 ms puts that stall on ~0.2 % of the calls instead of ~3 % (warm p99).

* With ``LAMBDA_SYNCHRONOUS_CREATE`` CreateFunction waits until the function is Active, polling every 0.5 s:
  every create took >= 0.5 s although our executor makes a function Active within milliseconds (0.51 s in a
  ``TF_LOG=trace`` profile of a Terraform apply). The Lambda provider's waits for Active poll every 10 ms.

* LocalStack starts two threads per invocation: a ``threading.Timer`` for the environment's keep-alive (started
  when the invocation ends, cancelled when the next begins) and one that records the invocation's CloudWatch
  metrics (kept in ``TMP_THREADS`` until shutdown, so memory and the full garbage collections grow with every
  invocation). Thread starts were ~15-20 % of LocalStack's samples in a py-spy profile of warm URL calls. The
  timers wait on one scheduler thread (:class:`SharedTimer`), the metrics are recorded in order on one worker.

Applied unless LocalStack runs with ``EMBEDDED_LOCALSTACK_TUNING=off`` (``start --stock``: the benchmark's
baseline with LocalStack's defaults). Imported only inside .venv-localstack.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import heapq
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

CONTENT_TYPE_CACHE_SIZE = 128
MAX_LOG_ITEMS_PER_BATCH = 1024
MAX_LOG_BATCH_BYTES = 512 * 1024  # CloudWatch accepts 1 MiB per PutLogEvents (counting 26 bytes per event)
MAX_EVENTS_PER_PUT = 10_000  # CloudWatch's limit of events per PutLogEvents
LOG_IDLE_S = 0.1
"""A batch of invocations' logs ships once no more logs arrived for this long ..."""
LOG_MAX_WAIT_S = 1.0
"""... or once its first invocation's logs have waited this long (invocations keep coming)."""
ACTIVE_POLL_INTERVAL_S = 0.01
PR_SET_NAME = 15  # prctl(2)
TIMER_THREAD_NAME = "lambda-timers"
METRICS_THREAD_NAME = "lambda-metrics"
"""OS-level names (``/proc/<pid>/task/*/comm``, ``top -H``) of the two threads that replace per-invocation ones."""
METRICS_THREAD_PREFIX = "record-cloudwatch-metric"
"""The names LocalStack 4.9.2 gives the thread it starts per invocation to record its CloudWatch metrics."""
TUNING_VARIABLE = "EMBEDDED_LOCALSTACK_TUNING"  # set by launcher.py (which cannot be imported here)


def tuning_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False only when the launcher started LocalStack with its stock settings (``EMBEDDED_LOCALSTACK_TUNING=off``)."""
    return (os.environ if environ is None else environ).get(TUNING_VARIABLE, "on").strip().lower() != "off"


def poll_for_active_functions_quickly() -> None:
    """The Lambda provider's waits for a function to become Active (synchronous create) poll every 10 ms."""
    from localstack.services.lambda_ import provider

    if getattr(provider.poll_condition, "quick", False):
        return
    poll_condition = provider.poll_condition

    def poll_quickly(condition: Any, timeout: float | None = None, interval: float = 0.5) -> bool:
        return poll_condition(condition, timeout=timeout, interval=min(interval, ACTIVE_POLL_INTERVAL_S))

    poll_quickly.quick = True  # type: ignore[attr-defined]
    provider.poll_condition = poll_quickly


def memoize_twisted_content_type_parsing() -> None:
    from twisted.web import http

    if not hasattr(http._parseContentType, "cache_info"):
        http._parseContentType = functools.lru_cache(maxsize=CONTENT_TYPE_CACHE_SIZE)(http._parseContentType)


def batch_lambda_log_shipping() -> None:
    from localstack.services.lambda_.invocation import logs as lambda_logs

    if getattr(lambda_logs.LogHandler.run_log_loop, "batched", False):
        return
    lambda_logs.LogHandler.run_log_loop = _batched_run_log_loop


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (<= 15 bytes) in the kernel too, where Python 3.11 leaves it unnamed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError) as error:  # not Linux: the name is only a diagnostic aid
        log.debug("could not name thread %s: %s", name, error)


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


class SharedTimer:
    """``threading.Timer``'s ``start()``/``cancel()`` for LocalStack's execution environments, without a thread each.

    LocalStack starts a ``threading.Timer`` (a new thread) for the keep-alive of an environment every time an
    invocation ends and cancels it when the next one begins. These timers wait on one scheduler thread instead;
    when one expires, its function runs in a new thread, as ``threading.Timer`` runs it.
    """

    scheduler: TimerScheduler

    def __init__(self, interval: float, function: Callable[..., Any], args: Any = None, kwargs: Any = None) -> None:
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        self.cancelled = False

    def start(self) -> None:
        self.scheduler.add(self)

    def cancel(self) -> None:
        self.scheduler.cancel(self)

    def run_function(self) -> None:
        threading.Thread(target=self.function, args=self.args, kwargs=self.kwargs, daemon=True).start()


class TimerScheduler:
    """One daemon thread that fires :class:`SharedTimer` s at their deadlines (cancelled ones are dropped)."""

    COMPACT_MIN = 64

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, SharedTimer]] = []
        self._sequence = itertools.count()
        self._cancelled = 0
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, timer: SharedTimer) -> None:
        with self._condition:
            heapq.heappush(self._heap, (time.monotonic() + timer.interval, next(self._sequence), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=TIMER_THREAD_NAME, daemon=True)
                self._thread.start()
            self._condition.notify()

    def cancel(self, timer: SharedTimer) -> None:
        with self._condition:
            if timer.cancelled:
                return
            timer.cancelled = True
            self._cancelled += 1
            if self._cancelled > max(self.COMPACT_MIN, len(self._heap) // 2):  # drop cancelled entries, amortised
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        with self._condition:
            return sum(1 for entry in self._heap if not entry[2].cancelled)

    def _run(self) -> None:
        name_os_thread(TIMER_THREAD_NAME)
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._condition.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, timer = heapq.heappop(self._heap)
                if timer.cancelled:
                    self._cancelled = max(0, self._cancelled - 1)
                    continue
                timer.cancelled = True  # fired: a later cancel() has no effect, as with threading.Timer
            try:
                timer.run_function()
            except Exception:  # e.g. no thread can be started at interpreter shutdown
                log.exception("timer function %s could not run", timer.function)


def share_execution_environment_timers() -> None:
    """Execution environments' keep-alive and start-up timers wait on one scheduler thread (:class:`SharedTimer`)."""
    from localstack.services.lambda_.invocation import execution_environment

    if execution_environment.Timer is not threading.Timer:
        return
    timer_class = type("SharedTimer", (SharedTimer,), {"scheduler": TimerScheduler()})
    execution_environment.Timer = timer_class


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
