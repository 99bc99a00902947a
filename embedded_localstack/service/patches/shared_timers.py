"""Execution environments' keep-alive timers on one scheduler thread (tuning; behaviour-preserving).

LocalStack starts a ``threading.Timer`` (a thread) for an environment's keep-alive when each invocation ends and
cancels it when the next begins; thread starts were a large part of LocalStack's samples in a py-spy profile of warm
URL calls (docs/benchmarks.md). The timers wait on one scheduler thread instead (:class:`SharedTimer`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from embedded_localstack.service.patches.thread_names import name_os_thread

log = logging.getLogger(__name__)

TIMER_THREAD_NAME = "lambda-timers"
"""OS-level name (``/proc/<pid>/task/*/comm``, ``top -H``) of the thread that replaces per-invocation timers."""


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
