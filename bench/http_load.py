"""The HTTP client side of the latency numbers: sequential keep-alive calls and bounded concurrent load.

Every measurement uses the same client: a ``requests.Session`` (one keep-alive connection), POSTing JSON to an
address with an explicit Host header. For a Function URL the address is the gateway's and the Host header the
URL's (LocalStack routes by Host header only); for the loopback floor the address is the trivial server's.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0


class LoadError(RuntimeError):
    """The target did not answer as expected; latency of wrong answers is not a measurement."""


@dataclass(frozen=True)
class Target:
    """Where to send the request (``url``) and which Host header to send with it (None: the URL's own)."""

    url: str
    host_header: str | None
    payload: Any
    expected_json: Any

    def headers(self) -> dict[str, str]:
        return {"Host": self.host_header} if self.host_header else {}


def client_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a proxy from the environment must not sit between us and loopback
    return session


def call(session: requests.Session, target: Target) -> None:
    response = session.post(target.url, json=target.payload, headers=target.headers(), timeout=REQUEST_TIMEOUT_S)
    if response.status_code != 200 or response.json() != target.expected_json:
        raise LoadError(
            f"{target.url} (Host {target.host_header}) answered {response.status_code}: {response.text[:300]}"
        )


def sequential_latencies(target: Target, calls: int, warmup_calls: int = 20) -> list[float]:
    """Seconds per call for ``calls`` sequential calls on one keep-alive connection (after a short warm-up)."""
    samples: list[float] = []
    with client_session() as session:
        for _ in range(warmup_calls):
            call(session, target)
        for _ in range(calls):
            started = time.perf_counter()
            call(session, target)
            samples.append(time.perf_counter() - started)
    return samples


@dataclass
class ThroughputResult:
    concurrency: int
    seconds: float
    completed: int
    errors: int
    latencies_s: list[float] = field(repr=False, default_factory=list)
    first_error: str = ""

    @property
    def requests_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


def throughput(target: Target, concurrency: int, duration_s: float, max_calls: int) -> ThroughputResult:
    """``concurrency`` workers, one keep-alive session each, call until ``duration_s`` or ``max_calls`` in total."""
    if concurrency < 1 or duration_s <= 0 or max_calls < 1:
        raise ValueError("concurrency, duration and max_calls must be positive")
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    started = time.perf_counter()
    deadline = started + duration_s

    def worker() -> None:
        nonlocal issued
        with client_session() as session:
            while time.perf_counter() < deadline:
                with lock:
                    if issued >= max_calls:
                        return
                    issued += 1
                call_started = time.perf_counter()
                try:
                    call(session, target)
                except (requests.RequestException, LoadError, ValueError) as error:
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - call_started
                with lock:
                    latencies.append(elapsed)

    workers = [threading.Thread(target=worker, name=f"load-{index}", daemon=True) for index in range(concurrency)]
    for thread in workers:
        thread.start()
    for thread in workers:
        # A call in flight at the deadline finishes within its request timeout.
        thread.join(timeout=duration_s + REQUEST_TIMEOUT_S + 5)
    seconds = time.perf_counter() - started
    if any(thread.is_alive() for thread in workers):
        raise LoadError(f"load workers still running {seconds:.0f} s after start")
    return ThroughputResult(
        concurrency=concurrency,
        seconds=seconds,
        completed=len(latencies),
        errors=len(errors),
        latencies_s=latencies,
        first_error=errors[0] if errors else "",
    )
