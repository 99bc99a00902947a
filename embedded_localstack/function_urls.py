"""Function URL requests in embedded mode get AWS's gateway behaviour where LocalStack 4.9.2 differs.

Two differences, both answered by LocalStack before the function is reached:

* **Content-Encoding.** ``localstack/aws/handlers/codec.py::ContentDecoder`` wraps the body of every request
  labelled ``Content-Encoding: gzip`` in ``gzip.GzipFile`` (all services but S3). For a Function URL that means a
  body that is not really gzip gives ``500 InternalError "Not a gzipped file"``, and a gzip bomb is inflated in
  LocalStack's memory. AWS hands the body to the function untouched (base64-encoded when it is binary) with the
  ``content-encoding`` header as sent. Function URL requests therefore skip the decoder.
* **Request size.** AWS answers ``413`` for a Function URL request whose invocation payload (the event JSON,
  body included, base64-inflated if binary) exceeds Lambda's synchronous limit, and the function never runs;
  LocalStack passes any size on. We answer 413 (a) from the declared ``Content-Length`` before anything reads
  the body (the event is always larger than the body), and (b) after the event is built, from its exact size.
  The 413 body is modelled on Lambda's ``RequestTooLargeException`` (AWS does not document the URL's body).

A request is a Function URL request when its Host has the shape LocalStack's ``FunctionUrlRouter`` routes on
(``<url-id>.lambda-url.<region>.<anything>``, ``localstack/services/lambda_/urlrouter.py``). The gateway part is
applied before LocalStack starts (like loopback.py), the event size check when the Lambda service loads.
Imported only inside .venv-localstack.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger(__name__)

# Lambda's synchronous invocation payload limit: 6 MiB + 100 bytes, as AWS's own errors quote it
# ("Request must be smaller than 6291556 bytes for the Invoke operation").
MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100
TOO_LARGE_ERROR_TYPE = "RequestTooLargeException"


class InvocationPayloadTooLarge(Exception):
    """The Function URL event would exceed Lambda's synchronous payload limit."""


def function_url_host_pattern() -> re.Pattern[str]:
    from localstack.utils.aws.request_context import AWS_REGION_REGEX

    # The FunctionUrlRouter's host rule: <api_id>.lambda-url.<regex(AWS_REGION_REGEX):region>.<regex('.*'):server>
    return re.compile(rf"^[^/]+\.lambda-url\.(?:{AWS_REGION_REGEX})\..*$", re.IGNORECASE)


def too_large_body() -> bytes:
    message = f"Request must be smaller than {MAX_INVOKE_PAYLOAD_BYTES} bytes for the Invoke operation"
    return json.dumps({"Type": "User", "message": message}).encode()


def too_large_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "x-amzn-ErrorType": TOO_LARGE_ERROR_TYPE}


def pass_function_url_bodies_through() -> None:
    """Function URL requests skip LocalStack's ContentDecoder; a too-large payload becomes a 413 (idempotent).

    Applied before LocalStack starts: both patched classes are instantiated when the gateway is built.
    """
    from localstack.aws.handlers.codec import ContentDecoder
    from localstack.aws.handlers.legacy import EdgeRouterHandler

    if getattr(ContentDecoder.__call__, "function_url_aware", False):
        return
    host_pattern = function_url_host_pattern()
    decode_content = ContentDecoder.__call__

    def decode_unless_function_url(self: Any, chain: Any, context: Any, response: Any) -> None:
        if not host_pattern.match(context.request.headers.get("Host", "")):
            decode_content(self, chain, context, response)

    decode_unless_function_url.function_url_aware = True  # type: ignore[attr-defined]
    ContentDecoder.__call__ = decode_unless_function_url

    # The URL router is served by the edge router handler, before LocalStack knows the request's service, so
    # a Lambda service exception would become a 500 there: the 413 is answered here instead.
    route = EdgeRouterHandler.__call__

    def route_refusing_too_large(self: Any, chain: Any, context: Any, response: Any) -> None:
        try:
            route(self, chain, context, response)
        except InvocationPayloadTooLarge as error:
            log.info("Function URL request refused with 413: %s", error)
            chain.respond(413, too_large_body(), too_large_headers())

    EdgeRouterHandler.__call__ = route_refusing_too_large


def limit_function_url_payloads() -> None:
    """Raise InvocationPayloadTooLarge for URL events over the limit (idempotent).

    Called when the Lambda service loads (the executor plugin's ``load``): importing the URL router earlier
    would add ~0.9 s to every LocalStack start, and its event builder is looked up at call time.
    """
    from localstack.services.lambda_ import urlrouter

    build_event = urlrouter.event_for_lambda_url
    if getattr(build_event, "payload_limited", False):
        return

    def event_within_payload_limit(api_id: str, request: Any) -> dict[str, Any]:
        declared = request.content_length
        if declared is not None and declared > MAX_INVOKE_PAYLOAD_BYTES:
            # The event holds the whole body, so it would be larger still: refuse before reading the body.
            raise InvocationPayloadTooLarge(f"declared body of {declared} bytes")
        event = build_event(api_id, request)
        # What the router sends is json.dumps(event) (ASCII, so characters == bytes). A chunked body, or a binary
        # body that base64 inflates by 4/3, passes the check above and can still exceed the limit.
        size = len(json.dumps(event))
        if size > MAX_INVOKE_PAYLOAD_BYTES:
            raise InvocationPayloadTooLarge(f"event of {size} bytes")
        return event

    event_within_payload_limit.payload_limited = True  # type: ignore[attr-defined]
    urlrouter.event_for_lambda_url = event_within_payload_limit
