"""Turning measurements into the JSON document, the printed table and the latency plot."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Reading = Callable[[Mapping[str, Any]], Any]
"""How one figure is read from the result document."""

GOALS: tuple[tuple[str, Reading, Reading], ...] = (
    # (label, how to read the value from the result, limit, what the limit is relative to). Every goal is a ratio
    # of two numbers measured in the same run (absolute times move 2x with the load of a shared machine).
    ("cycle_vs_stock_ratio <= 0.85", lambda r: r.get("cycle_vs_stock_ratio"), lambda r: 0.85),
    ("cycle_overhead_ratio <= 1.10", lambda r: r.get("cycle_overhead_ratio"), lambda r: 1.10),
    ("warm p50 <= 8 x loopback p50", lambda r: r["ratios"]["warm_p50_vs_loopback_p50"], lambda r: 8.0),
    ("warm p99 <= 20 x loopback p50", lambda r: r["ratios"]["warm_p99_vs_loopback_p50"], lambda r: 20.0),
    ("throughput c8 >= 2.0 x c1", lambda r: r["ratios"]["throughput_c8_vs_c1"], lambda r: 2.0),
    ("cold start <= 2 x python floor", lambda r: r["ratios"]["cold_start_vs_python_floor"], lambda r: 2.0),
    ("localstack_ready_s <= 8", lambda r: r["localstack_ready_s"], lambda r: 8.0),
    ("sandbox.warm_p50_ratio <= 1.10", lambda r: r.get("sandbox", {}).get("warm_p50_ratio"), lambda r: 1.10),
    ("sandbox.cold_start_ratio <= 1.5", lambda r: r.get("sandbox", {}).get("cold_start_ratio"), lambda r: 1.5),
)
AT_LEAST = {"throughput c8 >= 2.0 x c1"}


def goal_rows(result: Mapping[str, Any]) -> list[tuple[str, float | None, float, bool | None]]:
    rows = []
    for label, value_of, limit_of in GOALS:
        value = value_of(result)
        limit = limit_of(result)
        met = None if value is None else (value >= limit if label in AT_LEAST else value <= limit)
        rows.append((label, value, limit, met))
    return rows


def _flatten(result: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def table(result: Mapping[str, Any]) -> str:
    lines = [f"{'measurement':<42} {'value':>12}", "-" * 55]
    lines += [f"{name:<42} {value:>12.3f}" for name, value in _flatten(result) if isinstance(value, int | float)]
    lines += ["", f"{'goal':<40} {'value':>10} {'limit':>10}  met", "-" * 67]
    for label, value, limit, met in goal_rows(result):
        shown = "n/a" if value is None else f"{value:.2f}"
        verdict = "n/a" if met is None else ("yes" if met else "NO")
        lines.append(f"{label:<40} {shown:>10} {limit:>10.2f}  {verdict}")
    return "\n".join(lines)


def write_json(result: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def plot_latency(
    path: Path,
    warm_s: Sequence[float],
    loopback_s: Sequence[float],
    cold_s: Sequence[float],
    python_floor_s: Sequence[float],
    title: str,
) -> None:
    """Histogram of every measured call on a log time axis: floor, warm, cold start and interpreter start."""
    import matplotlib

    matplotlib.use("Agg")  # no display here; must precede pyplot
    import matplotlib.pyplot as plt
    import numpy as np

    series = [
        ("loopback floor (stdlib server)", loopback_s, "tab:gray"),
        ("warm Function URL call", warm_s, "tab:blue"),
        ("python floor (interpreter start + import)", python_floor_s, "tab:green"),
        ("cold start (first call of a fresh version)", cold_s, "tab:red"),
    ]
    every_ms = [value * 1000 for _, samples, _ in series for value in samples]
    bins = np.logspace(np.log10(max(min(every_ms), 0.01) * 0.9), np.log10(max(every_ms) * 1.1), 80)
    figure, axis = plt.subplots(figsize=(10, 5.5))
    for label, samples, colour in series:
        if samples:
            values = [value * 1000 for value in samples]
            axis.hist(values, bins=bins.tolist(), alpha=0.6, color=colour, label=f"{label} (n={len(values)})")
            axis.axvline(float(np.median(values)), color=colour, linestyle="--", linewidth=1)
    axis.set_xscale("log")
    axis.set_xlabel("latency per call (ms, log scale); dashed lines: medians")
    axis.set_ylabel("calls")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
