"""Phase durations (init, apply, first 200, destroy, ...), logged as they finish and kept for a summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhaseRecord:
    label: str
    """Which deployment the phase belongs to, e.g. the workspace suffix."""
    phase: str
    seconds: float
    ok: bool


@dataclass
class PhaseTimer:
    """Times named phases; one instance per session or CLI run (no module-level state)."""

    records: list[PhaseRecord] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str, label: str = "") -> Iterator[None]:
        started = time.monotonic()
        ok = False
        try:
            yield
            ok = True
        finally:
            seconds = time.monotonic() - started
            self.records.append(PhaseRecord(label=label, phase=name, seconds=seconds, ok=ok))
            log.info("phase %-10s %-12s %6.1f s%s", name, label, seconds, "" if ok else " (failed)")

    def summary(self) -> str:
        """One line per phase, in the order they ran."""
        return summarize(self.records)


def summarize(records: Iterable[PhaseRecord]) -> str:
    """One line per phase: label, phase, seconds, and FAILED when it did not finish."""
    return "\n".join(
        f"{record.label or '-':<28} {record.phase:<12} {record.seconds:7.1f} s{'' if record.ok else '  FAILED'}"
        for record in records
    )
