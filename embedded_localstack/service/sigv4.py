"""AWS Signature Version 4 checked on a request as LocalStack received it (Function URLs with AuthType AWS_IAM).

The signature is computed again with botocore's own signer (``SigV4Auth``: canonical request, string to sign,
signing key) from what arrived: the method, the raw path, the query (decoded and re-encoded as SigV4 prescribes),
exactly the headers the client listed as signed, and the SHA-256 of the body. It is compared with the client's in
constant time (``hmac.compare_digest``). Both forms of SigV4 are read: the ``Authorization`` header and a presigned
query (``X-Amz-Signature``). Refusals carry AWS's error types and, where AWS's wording is known, its messages.

Imported only inside .venv-localstack (botocore is LocalStack's); standard library otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from embedded_localstack.service.limits import SIGV4_CLOCK_SKEW_S, SIGV4_MAX_EXPIRES_S

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "lambda"
TERMINATOR = "aws4_request"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
INCOMPLETE = "IncompleteSignatureException"
INVALID = "InvalidSignatureException"
MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)
QUERY_PARAMETERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")


class SignatureError(Exception):
    """The request's SigV4 is malformed, expired or does not match; ``error_type`` is AWS's name for it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class ReceivedRequest:
    """What arrived, as the client sent it: raw (still percent-encoded) path and query, headers in any case."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name]

    def query_pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for pair in filter(None, self.raw_query.split("&")):
            key, _, value = pair.partition("=")
            pairs.append((unquote(key), unquote(value)))
        return pairs


@dataclass(frozen=True)
class Signature:
    """A SigV4 signature as the request carries it."""

    access_key: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    value: str
    timestamp: str
    session_token: str | None
    expires_s: int | None = None
    """Presigned (query) form only: ``X-Amz-Expires``."""


def _credential(text: str) -> tuple[str, str, str, str]:
    parts = text.split("/")
    if len(parts) != 5:
        raise SignatureError(
            INCOMPLETE,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{text}'",
        )
    access_key, scope_date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise SignatureError(
            INVALID, f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
        )
    return access_key, scope_date, region, service


def _signature_from_header(request: ReceivedRequest, header: str) -> Signature | None:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None  # not SigV4 at all (e.g. a bearer token): AWS treats the request as unsigned
    fields = {}
    for part in rest.split(","):
        name, separator, value = part.strip().partition("=")
        if separator:
            fields[name] = value.strip()
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if missing:
        raise SignatureError(INCOMPLETE, " ".join(missing))
    timestamp = _header_timestamp(request)
    access_key, scope_date, region, service = _credential(fields["Credential"])
    tokens = request.header_values("x-amz-security-token")
    return Signature(
        access_key=access_key,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=tuple(fields["SignedHeaders"].split(";")),
        value=fields["Signature"],
        timestamp=timestamp,
        session_token=tokens[0] if tokens else None,
    )


def _header_timestamp(request: ReceivedRequest) -> str:
    amz_dates = request.header_values("x-amz-date")
    if amz_dates:
        return amz_dates[0].strip()
    dates = request.header_values("date")
    if not dates:
        raise SignatureError(
            INCOMPLETE, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        return parsedate_to_datetime(dates[0]).astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    except (TypeError, ValueError):
        raise SignatureError(INCOMPLETE, f"Date must be in RFC 1123 format. Got '{dates[0]}'.") from None


def _signature_from_query(query: Mapping[str, str]) -> Signature:
    for name in QUERY_PARAMETERS:
        if not query.get(name):
            raise SignatureError(
                INCOMPLETE,
                f"AWS query-string parameters must include '{name}'. Re-examine the query-string parameters.",
            )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureError(INCOMPLETE, f"Unsupported AWS 'algorithm': '{query['X-Amz-Algorithm']}'.")
    expires = query.get("X-Amz-Expires", str(SIGV4_MAX_EXPIRES_S))
    if not expires.isdigit() or not 1 <= int(expires) <= SIGV4_MAX_EXPIRES_S:
        raise SignatureError(INCOMPLETE, f"X-Amz-Expires must be 1 to {SIGV4_MAX_EXPIRES_S} seconds, got '{expires}'.")
    access_key, scope_date, region, service = _credential(query["X-Amz-Credential"])
    return Signature(
        access_key=access_key,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=tuple(query["X-Amz-SignedHeaders"].split(";")),
        value=query["X-Amz-Signature"],
        timestamp=query["X-Amz-Date"],
        session_token=query.get("X-Amz-Security-Token"),
        expires_s=int(expires),
    )


def read_signature(request: ReceivedRequest) -> Signature | None:
    """The request's signature; None when it carries none; SignatureError when it is malformed."""
    headers = request.header_values("authorization")
    if headers:
        return _signature_from_header(request, headers[0])
    query = dict(request.query_pairs())
    if "X-Amz-Signature" in query or "X-Amz-Algorithm" in query or "X-Amz-Credential" in query:
        return _signature_from_query(query)
    return None


def _check_time(signature: Signature, now: datetime) -> None:
    try:
        signed_at = datetime.strptime(signature.timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError(
            INCOMPLETE,
            f"Date must be in ISO-8601 'basic format'. Got '{signature.timestamp}'. See http://en.wikipedia.org/wiki/ISO_8601",
        ) from None
    if signature.scope_date != signature.timestamp[:8]:
        raise SignatureError(
            INVALID,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{signature.scope_date}' != '{signature.timestamp[:8]}', from '{signature.timestamp}'.",
        )
    skew = timedelta(seconds=SIGV4_CLOCK_SKEW_S)
    stamp = now.strftime(TIMESTAMP_FORMAT)
    minutes = SIGV4_CLOCK_SKEW_S // 60
    if signed_at > now + skew:
        later = (now + skew).strftime(TIMESTAMP_FORMAT)
        raise SignatureError(
            INVALID,
            f"Signature not yet current: {signature.timestamp} is still later than {later} ({stamp} + {minutes} min.)",
        )
    window = timedelta(seconds=signature.expires_s) if signature.expires_s is not None else skew
    if signed_at < now - window:
        earliest = (now - window).strftime(TIMESTAMP_FORMAT)
        span = f"{signature.expires_s} sec." if signature.expires_s is not None else f"{minutes} min."
        raise SignatureError(
            INVALID, f"Signature expired: {signature.timestamp} is now earlier than {earliest} ({stamp} - {span})"
        )


def _expected_signature(request: ReceivedRequest, signature: Signature, secret: str) -> str:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.credentials import Credentials

    class ReceivedHeadersSigner(SigV4Auth):
        """botocore's signer, signing exactly the headers the client named, with the values that arrived."""

        def headers_to_sign(self, _request: AWSRequest) -> HTTPHeaders:
            selected = HTTPHeaders()
            for name in signature.signed_headers:
                for value in request.header_values(name):
                    selected[name] = value
            return selected

    params = [(key, value) for key, value in request.query_pairs() if key != "X-Amz-Signature"]
    aws_request = AWSRequest(
        method=request.method, url=f"http://function-url{request.raw_path}", data=request.body, params=params
    )
    aws_request.context["timestamp"] = signature.timestamp
    signer = ReceivedHeadersSigner(Credentials(signature.access_key, secret), SERVICE, signature.region)
    canonical_request = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical_request), aws_request))


def check(request: ReceivedRequest, signature: Signature, secret: str, region: str, now: datetime) -> None:
    """Raise SignatureError unless ``signature`` (made with ``secret``) signs exactly this request, in time."""
    if signature.service != SERVICE:
        raise SignatureError(INVALID, f"Credential should be scoped to correct service: '{SERVICE}'.")
    if signature.region != region:
        raise SignatureError(INVALID, "Credential should be scoped to a valid region.")
    if "host" not in signature.signed_headers:
        raise SignatureError(INVALID, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    _check_time(signature, now)
    declared = request.header_values("x-amz-content-sha256")
    if declared and declared[0].strip().lower() != hashlib.sha256(request.body).hexdigest():
        raise SignatureError(INVALID, MISMATCH_MESSAGE)  # the body is not the one that was signed
    expected = _expected_signature(request, signature, secret)
    if not hmac.compare_digest(expected.encode(), signature.value.strip().lower().encode()):
        raise SignatureError(INVALID, MISMATCH_MESSAGE)
