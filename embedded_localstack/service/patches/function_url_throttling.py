"""A throttled Function URL request gets AWS's 429, not LocalStack's 500.

LocalStack 4.9.2's invoke raises ``TooManyRequestsException`` ("Rate Exceeded.") when the function has no
concurrency left (reserved concurrency 0 or used up, or the account's pool exhausted). The Invoke API turns it into
429; through a Function URL it escaped the router and the gateway answered ``500 {"error": "Unexpected
exception", ...}``. AWS (docs "Throttling function URLs", "Deactivating function URLs"): 429 whenever the function's
concurrency is exceeded, e.g. reserved concurrency 0 throttles every request. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import logging
from typing import Any

from embedded_localstack.service.url_errors import throttled

log = logging.getLogger(__name__)


def answer_throttled_url_requests() -> None:
    """``TooManyRequestsException`` during a URL invocation becomes AWS's 429 (idempotent; before LocalStack starts)."""
    from localstack.aws.api.lambda_ import TooManyRequestsException
    from localstack.services.lambda_.urlrouter import FunctionUrlRouter

    handle = FunctionUrlRouter.handle_lambda_url_invocation
    if getattr(handle, "answers_throttling", False):
        return

    def handle_throttled(self: Any, request: Any, api_id: str, region: str, **url_params: str) -> Any:
        try:
            return handle(self, request, api_id, region, **url_params)
        except TooManyRequestsException as error:
            log.info("Function URL request %s throttled: %s", api_id, error)
            return throttled()

    handle_throttled.answers_throttling = True  # type: ignore[attr-defined]
    FunctionUrlRouter.handle_lambda_url_invocation = handle_throttled
