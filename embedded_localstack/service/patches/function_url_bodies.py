"""Function URL bodies reach the function untouched, as on AWS (LocalStack 4.9.2 decodes them).

``localstack/aws/handlers/codec.py::ContentDecoder`` wraps the body of every request labelled
``Content-Encoding: gzip`` in ``gzip.GzipFile`` (all services but S3). For a Function URL that means a body that is
not really gzip gives ``500 InternalError "Not a gzipped file"``, and a gzip bomb is inflated in LocalStack's
memory. AWS hands the body to the function untouched (base64-encoded when it is binary) with the
``content-encoding`` header as sent. Function URL requests therefore skip the decoder; other requests (a
gzip-compressed Invoke API call) are still decoded.

The event's body is the bytes as they arrived, too: LocalStack's event builder takes it from
``rolo.request.restore_payload``, which re-encodes form and multipart bodies from werkzeug's parsed fields (and
would send the body twice once something, such as the SigV4 check, has read the raw bytes first).

A request is a Function URL request when its Host has the shape LocalStack's ``FunctionUrlRouter`` routes on
(``<url-id>.lambda-url.<region>.<anything>``, ``localstack/services/lambda_/urlrouter.py``). Applied before
LocalStack starts (the decoder is instantiated when the gateway is built). Imported only inside .venv-localstack.
"""

from __future__ import annotations

import re
from typing import Any


def function_url_host_pattern() -> re.Pattern[str]:
    from localstack.utils.aws.request_context import AWS_REGION_REGEX

    # The FunctionUrlRouter's host rule: <api_id>.lambda-url.<regex(AWS_REGION_REGEX):region>.<regex('.*'):server>
    return re.compile(rf"^[^/]+\.lambda-url\.(?:{AWS_REGION_REGEX})\..*$", re.IGNORECASE)


def raw_body(request: Any) -> bytes:
    """The request body as received, read once and cached (werkzeug parses forms from the cached bytes)."""
    return bytes(request.get_data(cache=True))


def pass_function_url_bodies_through() -> None:
    """Function URL requests skip LocalStack's ContentDecoder; their events carry the raw body (idempotent)."""
    from localstack.aws.handlers.codec import ContentDecoder
    from localstack.services.lambda_ import urlrouter

    urlrouter.restore_payload = raw_body

    if getattr(ContentDecoder.__call__, "function_url_aware", False):
        return
    host_pattern = function_url_host_pattern()
    decode_content = ContentDecoder.__call__

    def decode_unless_function_url(self: Any, chain: Any, context: Any, response: Any) -> None:
        if not host_pattern.match(context.request.headers.get("Host", "")):
            decode_content(self, chain, context, response)

    decode_unless_function_url.function_url_aware = True  # type: ignore[attr-defined]
    ContentDecoder.__call__ = decode_unless_function_url
