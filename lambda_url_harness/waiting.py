"""Waiting for something that happens eventually (an object a function writes, a message it sends), bounded.

:func:`eventually` polls a check until it returns a truthy value (an ``assert`` failing, a missing key or an AWS
NotFound such as ``NoSuchKey`` mean "not yet"), and on a timeout fails with a message that says what was awaited,
for how long, what the check last returned or raised, and whatever ``diagnostics`` add (a deployment adds its
functions' recent logs: :meth:`lambda_url_harness.deployment.Deployment.eventually`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from lambda_url_harness.inventory import is_not_found

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRIED = (AssertionError, LookupError)
"""What a check may raise while the awaited thing is not there yet (``assert``, a missing key), besides an AWS API's
NotFound (``NoSuchKey``, ``ResourceNotFoundException``, ...: :func:`lambda_url_harness.inventory.is_not_found`);
anything else is a failure of the check itself and propagates at once."""


def _not_yet(error: Exception) -> bool:
    return isinstance(error, RETRIED) or (isinstance(error, ClientError) and is_not_found(error))


class EventuallyTimeout(AssertionError):
    """The awaited condition did not hold in time (an AssertionError: pytest shows it as a failed check)."""


def eventually(
    check: Callable[[], T],
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.5,
    what: str = "",
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` every ``interval_s`` until it returns a truthy value (returned) or ``timeout_s`` passes.

    ``what`` names the awaited thing in the timeout message (default: the check's name); ``diagnostics`` is called
    once on a timeout and its text appended (its own failure is reported instead of hiding the timeout)."""
    __tracebackhide__ = True  # pytest: the failure is the caller's line, not this loop
    if timeout_s <= 0 or interval_s <= 0:
        raise ValueError("timeout_s and interval_s must be positive")
    description = what or getattr(check, "__name__", repr(check))
    deadline = time.monotonic() + timeout_s
    attempts = 0
    last = "nothing yet"
    while True:
        attempts += 1
        try:
            result = check()
        except Exception as error:
            if not _not_yet(error):
                raise
            last = f"raised {type(error).__name__}: {error}"
        else:
            if result:
                return result
            last = f"returned {result!r}"
        if time.monotonic() >= deadline:
            break
        time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))
    message = f"timed out after {timeout_s:g} s waiting for {description} ({attempts} checks; the last {last})"
    if diagnostics is not None:
        try:
            message += "\n" + diagnostics()
        except Exception as error:  # the timeout is the news; a failing diagnostic must not replace it
            message += f"\n(could not collect diagnostics: {type(error).__name__}: {error})"
    raise EventuallyTimeout(message)
