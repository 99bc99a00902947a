"""The shared keep-alive timers of the embedded LocalStack (service/patches/shared_timers.py), with real threads.

They stand in for ``threading.Timer`` in LocalStack's execution environments: the same ``start()``/``cancel()``
contract, without a thread per timer. End to end (a real LocalStack reusing one environment across invocations):
tests/embedded/test_performance_settings.py.
"""

from __future__ import annotations

import threading

from embedded_localstack.service.patches.shared_timers import SharedTimer, TimerScheduler

WAIT_S = 10.0  # upper bound for a timer of a few ms to fire on a busy machine


def timer_class() -> tuple[type[SharedTimer], TimerScheduler]:
    scheduler = TimerScheduler()
    return type("Timer", (SharedTimer,), {"scheduler": scheduler}), scheduler


def test_a_timer_fires_once_in_its_own_thread_with_its_arguments() -> None:
    timer, _ = timer_class()
    fired = threading.Event()
    calls: list[tuple[tuple, dict, int]] = []

    def function(*args: object, **kwargs: object) -> None:
        calls.append((args, kwargs, threading.get_ident()))
        fired.set()

    started = timer(0.01, function, args=["a"], kwargs={"b": 1})
    started.start()
    assert fired.wait(WAIT_S)
    started.cancel()  # after it fired: no effect, as with threading.Timer
    assert [(args, kwargs) for args, kwargs, _ in calls] == [(("a",), {"b": 1})]
    assert calls[0][2] != threading.get_ident()


def test_a_cancelled_timer_never_fires_and_later_ones_still_do() -> None:
    timer, scheduler = timer_class()
    fired: list[str] = []
    done = threading.Event()
    cancelled = timer(0.01, lambda: fired.append("cancelled"))
    cancelled.start()
    cancelled.cancel()
    timer(0.05, lambda: (fired.append("kept"), done.set())).start()
    assert done.wait(WAIT_S)
    assert fired == ["kept"]
    assert scheduler.pending() == 0


def test_timers_started_and_cancelled_per_invocation_do_not_accumulate() -> None:
    timer, scheduler = timer_class()
    for _ in range(10_000):  # what an environment does per invocation: release() starts, reserve() cancels
        keepalive = timer(600, lambda: None)
        keepalive.start()
        keepalive.cancel()
    assert scheduler.pending() == 0
    assert len(scheduler._heap) <= 2 * TimerScheduler.COMPACT_MIN
