"""Function URLs answer CORS from their own ``Cors`` config, as AWS does; LocalStack's gateway CORS stays out of it.

LocalStack 4.9.2's gateway (``localstack/aws/handlers/cors.py``) answers every ``OPTIONS`` with 204, refuses any
``Origin`` outside its own allow-list with an empty 403 and adds its own ``Access-Control-*`` headers, for Function
URL requests too; its URL router ignores the URL's ``Cors``. AWS (docs "Creating and managing Lambda function URLs",
"Cross-origin resource sharing"; answers observed on AWS and published):

* a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) to a URL with ``Cors`` is answered
  by the service, the function never runs: 200, empty body; for an allowed origin ``Access-Control-Allow-Origin``
  (the request's origin, also when ``AllowOrigins`` is ``*``), ``-Allow-Methods`` and ``-Allow-Headers`` (the
  configured lists), ``-Max-Age`` (when set), ``-Allow-Credentials: true`` (when set) and ``Vary: Origin``;
* every other answer to an allowed origin gets ``Access-Control-Allow-Origin``, ``-Expose-Headers`` (when set),
  ``-Allow-Credentials`` (when set) and ``Vary: Origin``, added to the function's own headers (AWS sends both
  when the function sets them too);
* an origin that is not allowed gets no CORS headers, and its request still runs (the browser enforces CORS);
* ``AllowOrigins`` matches an origin exactly, or all of them with ``*``; without ``Cors`` an ``OPTIONS`` reaches
  the function like any method.

So Function URL requests are exempt from LocalStack's gateway CORS handling (both its check and its headers);
requests to the AWS API keep it. Imported only inside .venv-localstack.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from embedded_localstack.service.patches.function_url_bodies import function_url_host_pattern
from embedded_localstack.service.url_lookup import find_function_url


def allowed_origin(cors: Mapping[str, Any], origin: str) -> bool:
    allowed = cors.get("AllowOrigins") or []
    return "*" in allowed or origin in allowed


def preflight_headers(cors: Mapping[str, Any], origin: str) -> list[tuple[str, str]]:
    headers = [("Access-Control-Allow-Origin", origin)]
    if cors.get("AllowMethods"):
        headers.append(("Access-Control-Allow-Methods", ",".join(cors["AllowMethods"])))
    if cors.get("AllowHeaders"):
        headers.append(("Access-Control-Allow-Headers", ",".join(cors["AllowHeaders"])))
    if cors.get("MaxAge"):
        headers.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    if cors.get("AllowCredentials"):
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return [*headers, ("Vary", "Origin")]


def answer_headers(cors: Mapping[str, Any], origin: str) -> list[tuple[str, str]]:
    headers = [("Access-Control-Allow-Origin", origin)]
    if cors.get("ExposeHeaders"):
        headers.append(("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"])))
    if cors.get("AllowCredentials"):
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return [*headers, ("Vary", "Origin")]


def is_preflight(request: Any) -> bool:
    return bool(
        request.method == "OPTIONS"
        and request.headers.get("Origin")
        and request.headers.get("Access-Control-Request-Method")
    )


def exempt_function_urls_from_gateway_cors() -> None:
    """LocalStack's CORS check and CORS headers skip Function URL requests (idempotent; before LocalStack starts).

    Both its ``CorsEnforcer`` and its ``CorsResponseEnricher`` ask ``should_enforce_self_managed_service`` (looked up
    at call time), the hook LocalStack uses for services that handle CORS themselves (S3, API Gateway).
    """
    from localstack.aws.handlers import cors

    enforce = cors.should_enforce_self_managed_service
    if getattr(enforce, "function_url_aware", False):
        return
    host_pattern = function_url_host_pattern()

    def enforce_unless_function_url(context: Any) -> bool:
        return not host_pattern.match(context.request.headers.get("Host", "")) and enforce(context)

    enforce_unless_function_url.function_url_aware = True  # type: ignore[attr-defined]
    cors.should_enforce_self_managed_service = enforce_unless_function_url


def answer_function_url_cors() -> None:
    """Preflights are answered from the URL's Cors config; answers to allowed origins carry its headers (idempotent)."""
    from localstack.http import Response
    from localstack.services.lambda_.urlrouter import FunctionUrlRouter

    handle = FunctionUrlRouter.handle_lambda_url_invocation
    if getattr(handle, "answers_cors", False):
        return

    def handle_with_cors(self: Any, request: Any, api_id: str, region: str, **url_params: str) -> Any:
        url = find_function_url(api_id, region)
        cors = (url.config.cors or {}) if url is not None else {}
        origin = request.headers.get("Origin", "")
        if cors and is_preflight(request):
            response = Response(b"", 200, mimetype="application/json")
            response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
            if allowed_origin(cors, origin):
                for name, value in preflight_headers(cors, origin):
                    response.headers.add(name, value)
            return response
        response = handle(self, request, api_id, region, **url_params)
        if cors and origin and allowed_origin(cors, origin):
            for name, value in answer_headers(cors, origin):
                response.headers.add(name, value)
        return response

    handle_with_cors.answers_cors = True  # type: ignore[attr-defined]
    FunctionUrlRouter.handle_lambda_url_invocation = handle_with_cors
