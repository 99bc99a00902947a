"""Kernel-level thread names for the threads the tuning patches start (a diagnostic aid: ``top -H``, ``/proc``)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

PR_SET_NAME = 15  # prctl(2)


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (<= 15 bytes) in the kernel too, where Python 3.11 leaves it unnamed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError) as error:  # not Linux: the name is only a diagnostic aid
        log.debug("could not name thread %s: %s", name, error)
