"""Square a number: AWS Lambda handler for direct invokes and Function URLs.

Standard library only, so the deployment zip holds this one file.

Direct invoke:   {"number": 6}  ->  {"result": 36}        bad input -> {"error": "<message>"}
Function URL:    payload format 2.0; POST JSON/form body or GET ?number=9
                 200 {"result": 36} | 400 {"error": ...} | 405 {"error": ...}

Every failure is an answer, never an exception: a raised exception would surface as a
502 through the Function URL and as an opaque FunctionError on direct invoke.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import urllib.parse
from typing import Any

MAX_BODY_BYTES = 64 * 1024
"""Larger request bodies are rejected (400) before any parsing."""

MAX_INPUT_DIGITS = 2150
"""Longest accepted integer. Its square has at most 4300 digits, which is Python's default
limit for int<->str conversion (sys.get_int_max_str_digits), so the exact result can still
be serialised to JSON, and squaring stays far below a millisecond."""

_INTEGER_LIMIT = 10**MAX_INPUT_DIGITS
# re.ASCII: \d would otherwise match any Unicode digit (U+0666, fullwidth U+FF16), which int()
# and float() then accept; JSON numbers are ASCII-only, and query/form fields follow suit.
_INTEGER_TEXT = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_ALLOWED_METHODS = ("GET", "POST")
_JSON_HEADERS = {"content-type": "application/json"}
_USAGE = 'send {"number": <number>}, e.g. {"number": 6}'

Number = int | float


class BadRequest(ValueError):
    """Client input that cannot be squared; the message is returned to the caller verbatim."""


# --------------------------------------------------------------------------- arithmetic


def _type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def validate_number(value: object) -> Number:
    """Return ``value`` if it is a finite int/float of acceptable size, else raise BadRequest."""
    # bool is a subclass of int; True must not silently square to 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"'number' must be a number, got {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"'number' must be finite, got {value}")
    if isinstance(value, int) and abs(value) >= _INTEGER_LIMIT:
        raise BadRequest(f"'number' is too large: integers may have at most {MAX_INPUT_DIGITS} digits")
    return value


def square(value: Number) -> Number:
    """The square of a validated number; BadRequest if a float result overflows."""
    if isinstance(value, int):
        return value * value  # exact: Python ints are arbitrary precision
    result = value * value  # float multiplication gives inf on overflow (** would raise)
    if not math.isfinite(result):
        raise BadRequest(f"the square of {value!r} overflows a 64-bit float")
    return result


# --------------------------------------------------------------------------- parsing


def _shown(text: str, limit: int = 40) -> str:
    """Client text quoted for an error message: repr (so NULs and newlines stay visible and
    the log line stays one line) and cut short (so a huge value is not echoed back)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _reject_constant(name: str) -> float:
    # json accepts NaN/Infinity/-Infinity by default; they are not JSON and not squarable.
    raise BadRequest(f"'{name}' is not a valid JSON number")


def _parse_json_integer(text: str) -> int:
    # Checked before int() so a 60 000-digit literal costs nothing and never hits
    # Python's int max-str-digits ValueError.
    if len(text.lstrip("-")) > MAX_INPUT_DIGITS:
        raise BadRequest(f"'number' is too large: integers may have at most {MAX_INPUT_DIGITS} digits")
    return int(text)


def _parse_json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"'number' {text[:40]} is out of the range of a 64-bit float")
    return value


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of repeated keys silently; {"number": 2, "number": 3} is ambiguous
    # (a proxy or WAF may read the first), so it is an error like a repeated form field.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise BadRequest(f"request body repeats the key {_shown(duplicate)}; give each key once")
    return document


def parse_json(text: str) -> Any:
    """Strict JSON: no NaN/Infinity, bounded integers, finite floats, no repeated keys."""
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_parse_json_integer,
            parse_float=_parse_json_float,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON ({exc.msg} at position {exc.pos}); {_USAGE}") from None


def parse_number_text(text: str) -> Number:
    """A number from a query-string or form field, e.g. "9", "-3", "2.5", "1e3"."""
    stripped = text.strip()
    if _INTEGER_TEXT.fullmatch(stripped):
        return _parse_json_integer(stripped.lstrip("+"))
    if _DECIMAL_TEXT.fullmatch(stripped):
        return _parse_json_float(stripped)
    raise BadRequest(f"'number' must be a decimal number, got {_shown(stripped)}")


def number_from_document(document: Any) -> Number:
    """The validated ``number`` member of a decoded JSON body or direct-invoke event."""
    if not isinstance(document, dict):
        raise BadRequest(f"expected a JSON object, got {_type_name(document)}; {_USAGE}")
    if "number" not in document:
        raise BadRequest(f"missing 'number'; {_USAGE}")
    return validate_number(document["number"])


def _single_field(fields: dict[str, list[str]], where: str) -> str | None:
    values = fields.get("number")
    if values is None:
        return None
    if len(values) != 1:
        raise BadRequest(f"'number' is given {len(values)} times in the {where}; give it once")
    return values[0]


def _header(event: dict[str, Any], name: str) -> str:
    headers = event.get("headers") or {}
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


def request_body(event: dict[str, Any]) -> str:
    """The decoded request body text; BadRequest if too large, not base64 or not UTF-8."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise BadRequest("request body must be a string")
    # Checked before decoding so a huge body costs no work; base64 is 4/3 the size.
    limit = MAX_BODY_BYTES * 4 // 3 + 4 if event.get("isBase64Encoded") else MAX_BODY_BYTES
    if len(raw) > limit:
        raise BadRequest(f"request body is too large: the limit is {MAX_BODY_BYTES} bytes")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("request body is flagged base64-encoded but is not valid base64") from None
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(f"request body is too large: the limit is {MAX_BODY_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8 text") from None


def number_from_body(event: dict[str, Any]) -> Number:
    """The number in a POST body: JSON, or a form field ``number=7``."""
    text = request_body(event)
    if not text.strip():
        raise BadRequest(f"request body is empty; {_USAGE}")
    content_type = _header(event, "content-type").split(";")[0].strip().lower()
    is_json_type = content_type == "application/json" or content_type.endswith("+json")
    if is_json_type:
        return number_from_document(parse_json(text))
    json_text = text
    if content_type == "application/x-www-form-urlencoded":
        fields = urllib.parse.parse_qs(text, keep_blank_values=True)
        field = _single_field(fields, "form body")
        if field is not None:
            return parse_number_text(field)
        # LocalStack re-encodes form bodies it has parsed (rolo's restore_payload), so
        # curl -d '{"number": 6}' arrives as '%7B%22number%22%3A+6%7D=': the JSON is the
        # one blank-valued key. AWS passes the raw bytes, handled by json_text = text.
        if len(fields) == 1 and text.lstrip()[:1] not in ("{", "["):
            ((key, values),) = fields.items()
            if values == [""] and key.lstrip()[:1] in ("{", "["):
                json_text = key
    # No JSON content type: curl's -d without -H 'Content-Type: application/json' sends
    # JSON labelled as a form (and LocalStack/AWS then base64-encode it). Accept JSON
    # anyway, and when it does not parse, say that the content type is the likely cause.
    try:
        document = parse_json(json_text)
    except BadRequest as exc:
        label = content_type or "none"
        raise BadRequest(
            f"{exc} (content-type was {label!r}: send JSON with the header 'Content-Type: application/json',"
            " or a form field number=<n>)"
        ) from None
    return number_from_document(document)


def number_from_query(event: dict[str, Any]) -> Number:
    """The number in ``GET ?number=9``."""
    raw_query = event.get("rawQueryString")
    if isinstance(raw_query, str):
        fields = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
    else:
        # queryStringParameters joins repeated keys with commas; rawQueryString is exact.
        params = event.get("queryStringParameters") or {}
        fields = {key: [str(value)] for key, value in params.items()}
    field = _single_field(fields, "query string")
    if field is None:
        raise BadRequest("missing 'number' query parameter, e.g. ?number=9")
    return parse_number_text(field)


# --------------------------------------------------------------------------- entry points


def _http_response(status: int, payload: dict[str, Any], extra_headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {**_JSON_HEADERS, **(extra_headers or {})},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def is_function_url_event(event: object) -> bool:
    """Payload format 2.0 events (Function URL, HTTP API) carry requestContext.http."""
    return isinstance(event, dict) and isinstance((event.get("requestContext") or {}).get("http"), dict)


def handle_http(event: dict[str, Any]) -> tuple[dict, str]:
    """Response for a Function URL event, and a short outcome for the log line."""
    method = str(event["requestContext"]["http"].get("method", "")).upper()
    if method not in _ALLOWED_METHODS:
        shown = _shown(method, 20) if method else "<none>"
        message = f"method {shown} is not allowed; use POST with a JSON body or GET ?number=<n>"
        return _http_response(405, {"error": message}, {"allow": ", ".join(_ALLOWED_METHODS)}), "405"
    try:
        number = number_from_query(event) if method == "GET" else number_from_body(event)
        return _http_response(200, {"result": square(number)}), "200"
    except BadRequest as exc:
        return _http_response(400, {"error": str(exc)}), f"400 {exc}"[:160]


def handle_direct(event: object) -> tuple[dict, str]:
    """Result for a direct invoke (the event is the decoded JSON payload)."""
    try:
        return {"result": square(number_from_document(event))}, "ok"
    except BadRequest as exc:
        return {"error": str(exc)}, f"error {exc}"[:160]


def lambda_handler(event: Any, context: Any) -> dict:
    """Lambda entry point: squares ``number`` from a direct invoke or a Function URL request."""
    started = time.perf_counter()
    if is_function_url_event(event):
        method = str(event["requestContext"]["http"].get("method", "?")).upper()
        if not (method.isascii() and method.isalpha() and len(method) <= 20):
            method = _shown(method, 20)  # a crafted method must not forge or split log lines
        response, outcome = handle_http(event)
    else:
        method = "INVOKE"
        response, outcome = handle_direct(event)
    # One concise line per request; the event itself is never logged (it may be 64 KiB).
    # print, not logging: the runtime ships stdout to CloudWatch in every executor
    # (AWS, LocalStack, a plain process) without any handler configuration.
    print(f"{method} {outcome} {(time.perf_counter() - started) * 1000:.2f}ms", flush=True)
    return response
