"""A second gateway listener for Lambda functions: AWS's APIs, never LocalStack's internal endpoints.

LocalStack 4.9.2 serves its own control plane on the gateway port, next to the AWS APIs, to anyone who reaches it.
A function reaches that port (sandboxed, pasta forwards it into the function's network namespace), so it could
stop LocalStack with ``POST /_localstack/health {"action": "kill"}`` (or restart it). What is served there:

* ``/_localstack/...``: ``health`` (GET; POST ``kill``/``restart``; PUT sets state), ``info``, ``plugins``,
  ``init``, ``init/<stage>``; ``config`` (with ``ENABLE_CONFIG_UPDATES``: changes LocalStack's settings),
  ``diagnose`` and ``usage`` (with ``DEBUG``);
* ``/_aws/...``, the services' developer endpoints: ``lambda/runtimes``, ``lambda/init``; ``sqs/messages`` (reads
  any queue of any account); ``ses`` (sent mail); ``sns/platform-endpoint-messages``, ``sns/sms-messages``,
  ``sns/subscription-tokens``, the SNS signing certificate; ``dynamodb/expired``; ``cloudwatch/metrics/raw``;
  ``events/rules/<arn>/trigger``; ``execute-api/...`` (API Gateway's path-style URLs);
* ``/_localstack_lambda/<id>/...``: the Docker executor's runtime callbacks (results of other environments).

Functions need none of them (they answer the executor over their socket pair; LocalStack's own calls go through
its in-memory client). This module opens one more listener, on loopback with a port of its own, serving the same
gateway (every service, the same handler chain: Function URLs, the AWS APIs) except that a request whose path's
first segment starts with ``_`` (all of the above, however the path is spelt: ``//_localstack``, ``/x/..``,
absolute-form, ``;params``) gets 403 before LocalStack sees it. The executor points ``AWS_ENDPOINT_URL`` of every
function at it and the sandbox forwards its port (:func:`function_gateway_port`); the harness and users keep the
full gateway on the main port. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

FUNCTION_GATEWAY_HOST = "127.0.0.1"
REFUSED_MESSAGE = "LocalStack's internal endpoints are not reachable from Lambda functions"
_listening: dict[str, int] = {}
"""The port, once the listener is open (one per LocalStack process, like the main gateway's)."""


def function_gateway_port() -> int:
    """The port of the functions' listener; it is opened with the main gateway, before any function exists."""
    if "port" not in _listening:
        raise RuntimeError("the functions' gateway listener is not open (LocalStack was not started by our main)")
    return _listening["port"]


def first_segment(path: str) -> str:
    """The first segment of ``path`` as a router would find it: percent-decoded, empty and ``.`` segments dropped,
    ``..`` applied."""
    while (decoded := unquote(path)) != path:
        path = decoded
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts[0] if parts else ""


def is_internal(request: Any) -> bool:
    """True for a request to one of LocalStack's own endpoints (first path segment ``_...``), in any spelling."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    raw_path = urlsplit(raw).path if "://" in raw.split("?", 1)[0] else raw.split("?", 1)[0].split("#", 1)[0]
    return any(first_segment(path).startswith("_") for path in (request.path, raw_path))


def open_function_gateway() -> None:
    """Open the functions' listener right after LocalStack's own (wraps ``TwistedRuntimeServer.register``)."""
    from localstack.runtime.server.twisted import TwistedRuntimeServer
    from rolo.gateway import Gateway
    from rolo.serving.twisted import TwistedGateway
    from twisted.internet import reactor

    register = TwistedRuntimeServer.register
    if getattr(register, "opens_function_gateway", False):
        return

    class FunctionGateway(Gateway):
        """LocalStack's gateway, minus its internal endpoints."""

        def __init__(self, gateway: Gateway) -> None:
            super().__init__()
            self._gateway = gateway

        def process(self, request: Any, response: Any) -> None:
            if is_internal(request):
                log.warning("refused a function's request to %s %s", request.method, request.path)
                response.status_code = 403
                response.set_json({"message": f"{REFUSED_MESSAGE}: {request.path}"})
                return
            self._gateway.process(request, response)

    def register_with_function_gateway(self: Any, gateway: Any, listen: Any, ssl_creds: Any = None) -> None:
        register(self, gateway, listen, ssl_creds)
        port = reactor.listenTCP(0, TwistedGateway(FunctionGateway(gateway)), interface=FUNCTION_GATEWAY_HOST)
        _listening["port"] = port.getHost().port
        log.debug("functions' gateway listening on %s:%s", FUNCTION_GATEWAY_HOST, _listening["port"])

    register_with_function_gateway.opens_function_gateway = True  # type: ignore[attr-defined]
    TwistedRuntimeServer.register = register_with_function_gateway
