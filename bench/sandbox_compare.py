"""Sandboxed vs unsandboxed execution environments, side by side in one run.

Two private embedded LocalStacks run at the same time, one with ``EMBEDDED_LAMBDA_SANDBOX=bwrap`` and one with
``off``, each with the module's function behind a Function URL. Warm calls are taken in alternating blocks and
cold starts alternate version by version, so machine noise (other work on the 2 cores) falls on both modes alike.
Reported: ``sandbox.warm_p50_ratio`` and ``sandbox.cold_start_ratio`` (sandboxed / off) and the figures behind them,
and ``sandbox.freeze_thaw_ms``: what freezing the environment after each answer and thawing it before the next invoke
cost per invoke (p50 of the environment that served the warm calls, as the sandboxed LocalStack logs it when the
environment ends).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench import functions, http_load
from bench.stats import latency_summary_ms, median
from embedded_localstack.control.lifecycle import EmbeddedSettings

log = logging.getLogger(__name__)

MODES = ("bwrap", "off")
WARM_BLOCK = 50
FREEZER_LINE = re.compile(r"freeze/thaw per invoke: p50 ([0-9.]+) ms over (\d+) invokes")

LocalStackFactory = Callable[[Path, dict[str, str]], AbstractContextManager[tuple[EmbeddedSettings, float]]]


def compare(
    private_localstack: LocalStackFactory, run_dir: Path, warm_calls: int, cold_versions: int
) -> dict[str, Any]:
    warm: dict[str, list[float]] = {mode: [] for mode in MODES}
    cold: dict[str, list[float]] = {mode: [] for mode in MODES}
    with (
        private_localstack(run_dir / "sandbox-bwrap", {"EMBEDDED_LAMBDA_SANDBOX": "bwrap"}) as (on, _),
        private_localstack(run_dir / "sandbox-off", {"EMBEDDED_LAMBDA_SANDBOX": "off"}) as (off, _),
        functions.bench_function(on.endpoint, f"bench-sandbox-on-{on.port}") as function_on,
        functions.bench_function(off.endpoint, f"bench-sandbox-off-{off.port}") as function_off,
    ):
        targets = {"bwrap": (on.endpoint, function_on), "off": (off.endpoint, function_off)}
        log.info("sandbox: %d warm calls and %d cold starts per mode, alternating", warm_calls, cold_versions)
        for block in range(max(1, warm_calls // WARM_BLOCK)):
            order = MODES if block % 2 == 0 else MODES[::-1]
            for mode in order:
                warm[mode] += http_load.sequential_latencies(targets[mode][1].target, WARM_BLOCK, warmup_calls=5)
        for version in range(cold_versions):
            order = MODES if version % 2 == 0 else MODES[::-1]
            for mode in order:
                endpoint, function = targets[mode]
                cold[mode] += functions.cold_starts(endpoint, function, 1, first_index=version)
    freeze_thaw = freeze_thaw_ms(on.log_file.read_text(errors="replace"))  # the LocalStacks have stopped: complete
    summary: dict[str, dict[str, Any]] = {
        mode: {"warm_ms": latency_summary_ms(warm[mode]), "cold_start_ms": round(median(cold[mode]) * 1000, 3)}
        for mode in MODES
    }
    return {
        "warm_p50_ratio": round(summary["bwrap"]["warm_ms"]["p50"] / summary["off"]["warm_ms"]["p50"], 4),
        "cold_start_ratio": round(summary["bwrap"]["cold_start_ms"] / summary["off"]["cold_start_ms"], 4),
        "freeze_thaw_ms": freeze_thaw,
        **{mode: summary[mode] for mode in MODES},
    }


def freeze_thaw_ms(log_text: str) -> float | None:
    """The p50 freeze + thaw per invoke of the environment that served the most invokes (the warm calls'), from
    the sandboxed LocalStack's log; None if it logged none."""
    found = [(int(count), float(p50)) for p50, count in FREEZER_LINE.findall(log_text)]
    return max(found)[1] if found else None
