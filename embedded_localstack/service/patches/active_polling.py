"""Quick polls for Active after a synchronous create (tuning; behaviour-preserving, docs/benchmarks.md).

With ``LAMBDA_SYNCHRONOUS_CREATE`` CreateFunction waits until the function is Active, polling every 0.5 s: every
create took >= 0.5 s although our executor makes a function Active within milliseconds (0.51 s in a
``TF_LOG=trace`` profile of a Terraform apply). The Lambda provider's waits for Active poll every 10 ms.
"""

from __future__ import annotations

from typing import Any

ACTIVE_POLL_INTERVAL_S = 0.01


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
