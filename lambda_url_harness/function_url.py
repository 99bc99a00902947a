"""Calling LocalStack Function URLs from a machine where their host names do not resolve.

LocalStack routes Function URLs by Host header only, and their hosts
(``<id>.lambda-url.<region>.localhost.localstack.cloud:<port>``) need public DNS, which an
offline machine lacks. :class:`EndpointRoutingAdapter` sends such requests to LocalStack's
own address while keeping the URL's Host header; :func:`curl_command` does the same for curl.
Hosts of real AWS URLs are left alone, so the same code works against AWS.

:class:`FunctionUrlAuth` signs requests for URLs with AuthType ``AWS_IAM`` (SigV4, service ``lambda``, botocore's
signer), for the URL's own host: what AWS (or LocalStack) receives in the Host header.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests.adapters import HTTPAdapter

from lambda_url_harness.aws import localstack_session
from lambda_url_harness.errors import FunctionUrlError

log = logging.getLogger(__name__)

LOCAL_ONLY_SUFFIXES = (".localstack.cloud", ".localhost")
"""Host suffixes that name LocalStack itself (LOCALSTACK_HOST); everything else goes out unchanged."""


FUNCTION_ERROR_STATUS = 502
"""What a Function URL answers when the function raised, timed out or crashed (AWS and LocalStack alike)."""


def is_local_only_host(host: str | None) -> bool:
    if not host:
        return False
    return any(host.lower().rstrip(".").endswith(suffix) for suffix in LOCAL_ONLY_SUFFIXES)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def routed_url(url: str, endpoint: str) -> tuple[str, str | None]:
    """``(url to connect to, Host header to send)``; the Host header is None when no routing is needed."""
    parts = urlsplit(url)
    if not is_local_only_host(parts.hostname):
        return url, None
    target = urlsplit(endpoint)
    if not target.hostname:
        raise ValueError(f"endpoint {endpoint!r} has no host; expected e.g. http://127.0.0.1:4566")
    return urlunsplit((parts.scheme, target.netloc, parts.path or "/", parts.query, parts.fragment)), parts.netloc


class EndpointRoutingAdapter(HTTPAdapter):
    """Transport adapter sending LocalStack-only hosts to ``endpoint``, Host header preserved."""

    def __init__(self, endpoint: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url, host_header = routed_url(request.url or "", self.endpoint)
        if host_header is not None:
            log.debug("routing %s via %s (Host: %s)", request.url, url, host_header)
            request.url = url
            request.headers["Host"] = host_header
            # A proxy from the environment would resolve the original host (or refuse
            # loopback); routed requests go straight to LocalStack.
            proxies = {}
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


URL_REGION = re.compile(r"\.lambda-url\.([a-z0-9-]+)\.", re.IGNORECASE)
"""A Function URL's host names its region: ``<url-id>.lambda-url.<region>.on.aws`` (or LocalStack's host)."""
SIGNED_HEADERS = ("content-type",)
"""Signed besides ``host`` and the ``x-amz-*`` headers: hop-by-hop and client headers may change on the way."""


class FunctionUrlAuth(requests.auth.AuthBase):
    """SigV4 for Function URLs with AuthType ``AWS_IAM``: ``session.post(url, json=..., auth=FunctionUrlAuth())``.

    Signs for service ``lambda`` in the URL's region (from its host, else ``region``) with ``credentials``
    (default: LocalStack's test credentials, which the embedded LocalStack accepts; real ones for AWS). Signed:
    method, path, query, body and the headers ``host``, ``content-type`` and ``x-amz-*``. The body must be whole
    (bytes, str, ``json=`` or ``data=`` dict); the query is sent percent-encoded as SigV4 canonicalises it.
    """

    def __init__(self, credentials: Credentials | None = None, region: str | None = None) -> None:
        self.credentials = credentials or localstack_session().get_credentials()
        self.region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        region_match = URL_REGION.search(f".{parts.hostname or ''}.")
        region = region_match.group(1) if region_match else self.region
        if not region:
            raise ValueError(f"{request.url} names no region (<id>.lambda-url.<region>.…); pass region=")
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        if body is not None and not isinstance(body, bytes):
            raise ValueError("SigV4 signs the whole body: pass bytes, str, json= or data= a dict, not a stream")
        query = "&".join(
            f"{quote(unquote_plus(key), safe='-_.~')}={quote(unquote_plus(value), safe='-_.~')}"
            for key, _, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
        )
        request.url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
        request.headers["Host"] = parts.netloc
        if body is not None:
            request.body = body
            request.headers["Content-Length"] = str(len(body))
        signed = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("host", *SIGNED_HEADERS) or name.lower().startswith("x-amz-")
        }
        aws_request = AWSRequest(method=request.method, url=request.url, data=body or b"", headers=signed)
        SigV4Auth(self.credentials, "lambda", region).add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]
        return request


def function_url_session(endpoint: str, auth: requests.auth.AuthBase | None = None) -> requests.Session:
    """A requests Session that can reach LocalStack Function URLs offline; ``auth`` signs every request."""
    session = requests.Session()
    adapter = EndpointRoutingAdapter(endpoint)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = auth
    return session


def post_json(session: requests.Session, url: str, payload: Any, timeout_s: float = 30.0) -> requests.Response:
    """POST ``payload`` as JSON; Function URLs base64-encode bodies that are not declared JSON."""
    return session.post(url, json=payload, timeout=timeout_s)


def wait_for_status(
    session: requests.Session,
    url: str,
    payload: Any,
    expected_status: int = 200,
    attempts: int = 30,
    interval_s: float = 2.0,
    function_error_attempts: int = 2,
) -> requests.Response:
    """POST until the URL answers ``expected_status`` (a new function may still be Pending).

    Bounded by ``attempts``; raises :class:`FunctionUrlError` with the last answer otherwise. A 502
    means the function itself failed, which waiting does not fix: after ``function_error_attempts``
    of them in a row it gives up at once.
    """
    last: str = "no answer"
    status: int | None = None
    function_errors = 0
    for attempt in range(1, attempts + 1):
        try:
            response = post_json(session, url, payload)
        except requests.RequestException as exc:
            last, status, function_errors = f"{type(exc).__name__}: {exc}", None, 0
        else:
            if response.status_code == expected_status:
                return response
            status = response.status_code
            last = f"HTTP {status}: {response.text[:500]}"
            function_errors = function_errors + 1 if status == FUNCTION_ERROR_STATUS else 0
            if function_errors >= function_error_attempts and expected_status != FUNCTION_ERROR_STATUS:
                raise FunctionUrlError(
                    f"{url} answered HTTP {status} {function_errors} times in a row: the function raised, timed "
                    f"out or crashed (Function URLs answer 502 for a failed invocation, like AWS); last: {last}",
                    status,
                )
        log.info("attempt %d/%d on %s: %s", attempt, attempts, url, last)
        if attempt < attempts:
            time.sleep(interval_s)
    raise FunctionUrlError(
        f"{url} did not answer HTTP {expected_status} after {attempts} attempts; last: {last}", status
    )


def curl_command(url: str, endpoint: str, payload: Mapping[str, Any] | None = None) -> list[str]:
    """A curl command line that reaches ``url`` on this machine (``--connect-to`` for LocalStack-only hosts)."""
    argv = ["curl", "-sS"]
    parts = urlsplit(url)
    if is_local_only_host(parts.hostname):
        target = urlsplit(endpoint)
        url_port = parts.port or _default_port(parts.scheme)
        target_port = target.port or _default_port(target.scheme)
        # --connect-to keeps the URL (and so the Host header) but opens the socket to LocalStack;
        # unlike --resolve it also works when LocalStack's port differs from the URL's.
        argv += ["--connect-to", f"{parts.hostname}:{url_port}:{target.hostname}:{target_port}"]
    if payload is not None:
        argv += ["-H", "Content-Type: application/json", "-d", json.dumps(payload, separators=(",", ":"))]
    argv.append(url)
    return argv


def curl_command_line(url: str, endpoint: str, payload: Mapping[str, Any] | None = None) -> str:
    return shlex.join(curl_command(url, endpoint, payload))
