"""Percentiles and medians of measured samples (nearest-rank on sorted samples, no interpolation)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``fraction`` of the samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise ValueError("no samples")
    return statistics.median(samples)


def latency_summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds of samples in seconds."""
    return {
        name: round(percentile(samples_s, fraction) * 1000, 3)
        for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
    }
