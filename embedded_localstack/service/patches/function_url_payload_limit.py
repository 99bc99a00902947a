"""Function URL events over Lambda's synchronous payload limit get AWS's 413 before the function runs.

AWS answers ``413`` for a Function URL request whose invocation payload (the event JSON, body included,
base64-inflated if binary) exceeds Lambda's synchronous limit, and the function never runs; LocalStack 4.9.2 passes
any size on. We answer 413 (a) from the declared ``Content-Length`` before anything reads the body (the event is
always larger than the body), and (b) after the event is built, from its exact size. The 413 body is modelled on
Lambda's ``RequestTooLargeException`` (AWS does not document the URL's body). Imported only inside
.venv-localstack.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from embedded_localstack.service.limits import (
    MAX_INVOKE_PAYLOAD_BYTES,
    REQUEST_TOO_LARGE_MESSAGE,
    REQUEST_TOO_LARGE_TYPE,
)

log = logging.getLogger(__name__)


class InvocationPayloadTooLarge(Exception):
    """The Function URL event would exceed Lambda's synchronous payload limit."""


def too_large_body() -> bytes:
    return json.dumps({"Type": "User", "message": REQUEST_TOO_LARGE_MESSAGE}).encode()


def too_large_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "x-amzn-ErrorType": REQUEST_TOO_LARGE_TYPE}


def refuse_declared_oversize(request: Any) -> None:
    """Raise InvocationPayloadTooLarge when the declared body alone exceeds the limit, before anything reads it.

    The event holds the whole body, so it would be larger still. Also called before a SigV4 check hashes the body.
    """
    declared = request.content_length
    if declared is not None and declared > MAX_INVOKE_PAYLOAD_BYTES:
        raise InvocationPayloadTooLarge(f"declared body of {declared} bytes")


def answer_too_large_url_requests() -> None:
    """A too-large URL event becomes a 413 at the edge router (idempotent; applied before LocalStack starts).

    The URL router is served by the edge router handler, before LocalStack knows the request's service, so a
    Lambda service exception would become a 500 there: the 413 is answered here instead.
    """
    from localstack.aws.handlers.legacy import EdgeRouterHandler

    if getattr(EdgeRouterHandler.__call__, "refuses_too_large", False):
        return
    route = EdgeRouterHandler.__call__

    def route_refusing_too_large(self: Any, chain: Any, context: Any, response: Any) -> None:
        try:
            route(self, chain, context, response)
        except InvocationPayloadTooLarge as error:
            log.info("Function URL request refused with 413: %s", error)
            chain.respond(413, too_large_body(), too_large_headers())

    route_refusing_too_large.refuses_too_large = True  # type: ignore[attr-defined]
    EdgeRouterHandler.__call__ = route_refusing_too_large


def limit_function_url_payloads() -> None:
    """Raise InvocationPayloadTooLarge for URL events over the limit (idempotent).

    The URL router's event builder is looked up at call time, so replacing it here is enough.
    """
    from localstack.services.lambda_ import urlrouter

    build_event = urlrouter.event_for_lambda_url
    if getattr(build_event, "payload_limited", False):
        return

    def event_within_payload_limit(api_id: str, request: Any) -> dict[str, Any]:
        refuse_declared_oversize(request)
        event = build_event(api_id, request)
        # What the router sends is json.dumps(event) (ASCII, so characters == bytes). A chunked body, or a binary
        # body that base64 inflates by 4/3, passes the check above and can still exceed the limit.
        size = len(json.dumps(event))
        if size > MAX_INVOKE_PAYLOAD_BYTES:
            raise InvocationPayloadTooLarge(f"event of {size} bytes")
        return event

    event_within_payload_limit.payload_limited = True  # type: ignore[attr-defined]
    urlrouter.event_for_lambda_url = event_within_payload_limit
