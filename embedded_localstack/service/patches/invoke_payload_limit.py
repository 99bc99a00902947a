"""Invoke API payloads over Lambda's synchronous limit get AWS's ``RequestTooLargeException`` (413).

LocalStack 4.9.2's provider passes any size on (only its Docker runtime refuses them later). Imported only inside
.venv-localstack.
"""

from __future__ import annotations

import io
from typing import Any

from embedded_localstack.service.limits import MAX_INVOKE_PAYLOAD_BYTES, REQUEST_TOO_LARGE_MESSAGE


def limit_invoke_payloads() -> None:
    """Invoke with a payload over 6291556 bytes: RequestTooLargeException (413), as AWS answers (idempotent)."""
    from localstack.aws.api.lambda_ import RequestTooLargeException
    from localstack.services.lambda_.provider import LambdaProvider

    invoke = LambdaProvider.invoke
    if getattr(invoke, "payload_limited", False):
        return

    def invoke_within_limit(self: Any, context: Any, function_name: Any, *args: Any, **kwargs: Any) -> Any:
        payload = kwargs.get("payload")
        if hasattr(payload, "read"):  # LocalStack reads it as a stream: read it once, hand on a fresh one
            payload = payload.read()
            kwargs["payload"] = io.BytesIO(payload)
        if payload is not None and len(payload) > MAX_INVOKE_PAYLOAD_BYTES:
            error = RequestTooLargeException(REQUEST_TOO_LARGE_MESSAGE)
            error.status_code = 413
            raise error
        return invoke(self, context, function_name, *args, **kwargs)

    invoke_within_limit.payload_limited = True  # type: ignore[attr-defined]
    LambdaProvider.invoke = invoke_within_limit
