"""The batching of Lambda log shipping (service/patches/log_batching.py) with a real queue and real threads.

What CloudWatch Logs receives end to end is checked against a real LocalStack in tests/embedded/test_executor.py
(``test_logs_of_concurrent_invokes_all_arrive_once_and_in_order``); here: what goes into one batch.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from embedded_localstack.service.patches.log_batching import (
    LOG_IDLE_S,
    MAX_EVENTS_PER_PUT,
    MAX_LOG_ITEMS_PER_BATCH,
    _events_by_stream,
    _put_sized_chunks,
    _take_batch,
)

PILL = object()


@dataclass(frozen=True)
class Item:  # the shape of LocalStack's LogItem
    log_group: str
    log_stream: str
    logs: str


def test_items_arriving_within_the_idle_gap_ship_together_with_their_own_arrival_times() -> None:
    log_queue: queue.Queue = queue.Queue()

    def producer() -> None:
        for index in range(1, 4):
            time.sleep(LOG_IDLE_S / 10)
            log_queue.put(Item("g", "s", f"line {index}\n"))

    thread = threading.Thread(target=producer)
    thread.start()
    batch, shutdown = _take_batch(log_queue, Item("g", "s", "line 0\n"), PILL)
    thread.join()
    assert not shutdown
    assert [item.logs for _, item in batch] == [f"line {index}\n" for index in range(4)]
    stamps = [stamp for stamp, _ in batch]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]  # stamped on arrival, not when shipped


def test_an_item_after_the_idle_gap_waits_for_the_next_batch() -> None:
    log_queue: queue.Queue = queue.Queue()
    timer = threading.Timer(LOG_IDLE_S * 3, lambda: log_queue.put(Item("g", "s", "late\n")))
    timer.start()
    started = time.monotonic()
    batch, shutdown = _take_batch(log_queue, Item("g", "s", "early\n"), PILL)
    elapsed = time.monotonic() - started
    timer.join()
    assert [item.logs for _, item in batch] == ["early\n"] and not shutdown
    assert elapsed < LOG_IDLE_S * 3  # the first batch did not wait for the late item
    assert log_queue.get_nowait().logs == "late\n"


def test_shutdown_pill_ends_the_batch_at_once_and_a_full_batch_does_not_wait() -> None:
    log_queue: queue.Queue = queue.Queue()
    log_queue.put(Item("g", "s", "a\n"))
    log_queue.put(PILL)
    log_queue.put(Item("g", "s", "never taken\n"))
    batch, shutdown = _take_batch(log_queue, Item("g", "s", "first\n"), PILL)
    assert shutdown and [item.logs for _, item in batch] == ["first\n", "a\n"]

    full: queue.Queue = queue.Queue()
    for index in range(MAX_LOG_ITEMS_PER_BATCH + 5):
        full.put(Item("g", "s", f"{index}\n"))
    started = time.monotonic()
    batch, _ = _take_batch(full, full.get_nowait(), PILL, idle_s=30.0, max_wait_s=30.0)
    assert len(batch) == MAX_LOG_ITEMS_PER_BATCH and time.monotonic() - started < 5.0
    assert full.qsize() == 5


def test_a_steady_stream_of_invocations_ships_at_the_latest_after_the_maximum_wait() -> None:
    log_queue: queue.Queue = queue.Queue()
    produced = 60
    done = threading.Event()

    def producer() -> None:  # one invocation's logs every 10 ms: never an idle gap of 0.2 s
        for index in range(1, produced):
            log_queue.put(Item("g", "s", f"{index}\n"))
            time.sleep(0.01)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    batch, shutdown = _take_batch(log_queue, Item("g", "s", "0\n"), PILL, idle_s=0.2, max_wait_s=0.1)
    cut_before_the_stream_ended = not done.is_set()
    thread.join()
    assert not shutdown and cut_before_the_stream_ended
    rest = [log_queue.get_nowait().logs for _ in range(log_queue.qsize())]
    assert [item.logs for _, item in batch] + rest == [f"{index}\n" for index in range(produced)]  # none lost, in order


def test_a_streams_events_go_out_in_order_in_calls_within_cloudwatchs_event_limit() -> None:
    events = [{"timestamp": 1000, "message": f"{index}\n"} for index in range(2 * MAX_EVENTS_PER_PUT + 3)]
    chunks = _put_sized_chunks(events)
    assert [len(chunk) for chunk in chunks] == [MAX_EVENTS_PER_PUT, MAX_EVENTS_PER_PUT, 3]
    assert [event for chunk in chunks for event in chunk] == events
    assert _put_sized_chunks([]) == []


def test_events_keep_each_invocations_lines_in_order_per_stream() -> None:
    batch = [
        (1000, Item("g", "s1", "START a\nout a\n\nEND a\n")),
        (1001, Item("g", "s2", "START b\n")),
        (1002, Item("g", "s1", "START c\n")),
    ]
    streams = _events_by_stream(batch)
    assert streams[("g", "s1")] == [
        {"timestamp": 1000, "message": "START a\n"},
        {"timestamp": 1000, "message": "out a\n"},
        {"timestamp": 1000, "message": "END a\n"},  # empty lines are dropped, as LocalStack does
        {"timestamp": 1002, "message": "START c\n"},
    ]
    assert streams[("g", "s2")] == [{"timestamp": 1001, "message": "START b\n"}]
