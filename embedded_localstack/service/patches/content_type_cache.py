"""Memoised Content-Type parsing in twisted (tuning; behaviour-preserving, docs/benchmarks.md).

twisted parses the Content-Type of every POST with ``email.message.EmailMessage`` (header registry, policy
objects) just to compare it with form types; the function is pure, so its results are memoised.
"""

from __future__ import annotations

import functools

CONTENT_TYPE_CACHE_SIZE = 128


def memoize_twisted_content_type_parsing() -> None:
    from twisted.web import http

    if not hasattr(http._parseContentType, "cache_info"):
        http._parseContentType = functools.lru_cache(maxsize=CONTENT_TYPE_CACHE_SIZE)(http._parseContentType)
