"""The handler contract (lambda/lambda_function_square.py), called in-process.

Pure-Python unit tests are the truth here: the handler is a function of its event.
Function URL events follow payload format 2.0 as AWS and LocalStack send them.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

HANDLER_PATH = Path(__file__).resolve().parent.parent / "lambda" / "lambda_function_square.py"


def _load_handler() -> ModuleType:
    # Executed from its file rather than imported: lambda/ is not a package (the zip holds
    # the file at top level), and an import would leave lambda/__pycache__ behind.
    module = ModuleType("lambda_function_square")
    module.__file__ = str(HANDLER_PATH)
    exec(compile(HANDLER_PATH.read_text(), HANDLER_PATH, "exec"), module.__dict__)
    return module


handler = _load_handler()


def url_event(
    method: str = "POST",
    body: str | None = None,
    *,
    content_type: str | None = "application/json",
    base64_encoded: bool = False,
    query: str = "",
) -> dict[str, Any]:
    """A Function URL (payload 2.0) event like the ones AWS and LocalStack send."""
    headers = {"host": "abc.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.5.0"}
    if content_type is not None:
        headers["content-type"] = content_type
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        },
        "isBase64Encoded": base64_encoded,
    }
    if query:
        event["queryStringParameters"] = {k: v for k, v in (p.split("=", 1) for p in query.split("&") if "=" in p)}
    if body is not None:
        event["body"] = base64.b64encode(body.encode()).decode() if base64_encoded else body
    return event


def call_url(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handler.lambda_handler(event, None)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


# --------------------------------------------------------------------- direct invoke


@pytest.mark.parametrize(
    ("number", "expected"),
    [(6, 36), (0, 0), (-3, 9), (2.5, 6.25), (-0.5, 0.25), (10**30, 10**60), (2.0**500, 2.0**1000)],
)
def test_direct_invoke_squares(number: float, expected: float) -> None:
    assert handler.lambda_handler({"number": number}, None) == {"result": expected}


@pytest.mark.parametrize(
    ("event", "message_part"),
    [
        ({}, "missing 'number'"),
        ({"value": 6}, "missing 'number'"),
        ({"number": "6"}, "got string"),
        ({"number": True}, "got boolean"),
        ({"number": None}, "got null"),
        ({"number": [6]}, "got array"),
        ({"number": {"n": 6}}, "got object"),
        ({"number": math.nan}, "must be finite"),
        ({"number": math.inf}, "must be finite"),
        ({"number": 1e200}, "overflows"),
        ({"number": 10**2150}, "at most 2150 digits"),
        ([6], "expected a JSON object, got array"),
        ("6", "expected a JSON object, got string"),
        (None, "expected a JSON object, got null"),
    ],
)
def test_direct_invoke_bad_input_returns_error_object(event: Any, message_part: str) -> None:
    result = handler.lambda_handler(event, None)
    assert set(result) == {"error"}
    assert message_part in result["error"]


# ---------------------------------------------------------------------- Function URL


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"number": 6}', 36),
        ('{"number": -7}', 49),
        ('{"number": 2.5}', 6.25),
        ('{"number": 1e3}', 1e6),
        ('{"number": 12345678901234567890}', 12345678901234567890**2),
        ('  {"number": 6, "extra": "ignored"}  ', 36),
    ],
)
def test_url_post_json(body: str, expected: float) -> None:
    assert call_url(url_event(body=body)) == (200, {"result": expected})


def test_url_big_integer_is_exact() -> None:
    number = int("9" * 2150)  # the largest accepted size
    status, payload = call_url(url_event(body=json.dumps({"number": number})))
    assert status == 200
    assert payload["result"] == number * number


def test_url_base64_body_is_decoded() -> None:
    event = url_event(body='{"number": 6}', content_type="application/octet-stream", base64_encoded=True)
    assert call_url(event) == (200, {"result": 36})


def test_url_curl_d_without_json_header_is_accepted() -> None:
    # curl -d '{"number": 6}' labels JSON as a form; AWS/LocalStack base64-encode it.
    event = url_event(body='{"number": 6}', content_type="application/x-www-form-urlencoded", base64_encoded=True)
    assert call_url(event) == (200, {"result": 36})


def test_url_curl_d_without_json_header_as_localstack_re_encodes_it() -> None:
    # LocalStack parses the "form" and re-encodes it before building the event.
    body = urllib.parse.urlencode({'{"number": 6}': ""})
    assert body == "%7B%22number%22%3A+6%7D="
    event = url_event(body=body, content_type="application/x-www-form-urlencoded", base64_encoded=True)
    assert call_url(event) == (200, {"result": 36})


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_url_form_post(base64_encoded: bool) -> None:
    event = url_event(body="number=7", content_type="application/x-www-form-urlencoded", base64_encoded=base64_encoded)
    assert call_url(event) == (200, {"result": 49})


def test_url_json_with_charset_parameter() -> None:
    event = url_event(body='{"number": 3}', content_type="application/json; charset=utf-8")
    assert call_url(event) == (200, {"result": 9})


@pytest.mark.parametrize(("query", "expected"), [("number=9", 81), ("number=-2.5", 6.25), ("x=1&number=1e2", 1e4)])
def test_url_get_query(query: str, expected: float) -> None:
    assert call_url(url_event("GET", query=query, content_type=None)) == (200, {"result": expected})


def test_url_get_uses_query_parameters_when_raw_query_is_absent() -> None:
    event = url_event("GET", query="number=4", content_type=None)
    del event["rawQueryString"]
    assert call_url(event) == (200, {"result": 16})


@pytest.mark.parametrize(
    ("event", "message_part"),
    [
        (url_event(body='{"value": 6}'), "missing 'number'"),
        (url_event(body='{"number": "6"}'), "got string"),
        (url_event(body='{"number": true}'), "got boolean"),
        (url_event(body='{"number": null}'), "got null"),
        (url_event(body='{"number": [6]}'), "got array"),
        (url_event(body='{"number": {"n": 6}}'), "got object"),
        (url_event(body="not json"), "not valid JSON"),
        (url_event(body='{"number": 6'), "not valid JSON"),
        (url_event(body=""), "body is empty"),
        (url_event(body=None), "body is empty"),
        (url_event(body="   "), "body is empty"),
        (url_event(body="[6]"), "expected a JSON object, got array"),
        (url_event(body="6"), "expected a JSON object, got int"),
        (url_event(body='{"number": NaN}'), "'NaN' is not a valid JSON number"),
        (url_event(body='{"number": Infinity}'), "'Infinity' is not a valid JSON number"),
        (url_event(body='{"number": -Infinity}'), "'-Infinity' is not a valid JSON number"),
        (url_event(body='{"number": 1e400}'), "out of the range"),
        (url_event(body='{"number": 1e200}'), "overflows"),
        (url_event(body='{"number": ' + "9" * 2151 + "}"), "at most 2150 digits"),
        (url_event(body='{"number": ' + "9" * 60000 + "}"), "at most 2150 digits"),
        (url_event(body='{"number": 6, "pad": "' + "x" * 70000 + '"}'), "too large"),
        (url_event(body="[" * 30000 + "]" * 30000), "nested too deeply"),
        (url_event(body="%%%", base64_encoded=False, content_type="application/json"), "not valid JSON"),
        (url_event("GET", query="", content_type=None), "missing 'number' query parameter"),
        (url_event("GET", query="number=abc", content_type=None), "must be a decimal number"),
        (url_event("GET", query="number=nan", content_type=None), "must be a decimal number"),
        (url_event("GET", query="number=inf", content_type=None), "must be a decimal number"),
        (url_event("GET", query="number=", content_type=None), "must be a decimal number"),
        (url_event("GET", query="number=1&number=2", content_type=None), "given 2 times"),
        (url_event("GET", query="number=" + "9" * 5000, content_type=None), "at most 2150 digits"),
        (url_event(body="number=x", content_type="application/x-www-form-urlencoded"), "must be a decimal number"),
    ],
)
def test_url_bad_input_is_400_with_error(event: dict[str, Any], message_part: str) -> None:
    status, payload = call_url(event)
    assert status == 400
    assert set(payload) == {"error"}
    assert message_part in payload["error"]


def test_url_invalid_base64_is_400() -> None:
    event = url_event(body="ignored")
    event["isBase64Encoded"] = True
    event["body"] = "***not base64***"
    status, payload = call_url(event)
    assert (status, payload["error"]) == (400, "request body is flagged base64-encoded but is not valid base64")


def test_url_non_utf8_body_is_400() -> None:
    event = url_event(body="ignored", content_type="application/octet-stream")
    event["isBase64Encoded"] = True
    event["body"] = base64.b64encode(b"\xff\xfe{").decode()
    status, payload = call_url(event)
    assert (status, payload["error"]) == (400, "request body is not valid UTF-8 text")


def test_url_too_large_base64_body_is_rejected_before_decoding() -> None:
    body = "x" * (handler.MAX_BODY_BYTES + 1)
    event = url_event(body=body, content_type="application/octet-stream", base64_encoded=True)
    status, payload = call_url(event)
    assert status == 400
    assert f"the limit is {handler.MAX_BODY_BYTES} bytes" in payload["error"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_url_unparsable_body_without_json_content_type_names_the_header(content_type: str | None) -> None:
    event = url_event(body="{number: 6}", content_type=content_type, base64_encoded=True)
    status, payload = call_url(event)
    assert status == 400
    assert "not valid JSON" in payload["error"]
    assert "Content-Type: application/json" in payload["error"]
    assert repr(content_type or "none") in payload["error"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_url_other_methods_are_405(method: str) -> None:
    response = handler.lambda_handler(url_event(method, body='{"number": 6}'), None)
    assert response["statusCode"] == 405
    assert response["headers"]["allow"] == "GET, POST"
    assert "not allowed" in json.loads(response["body"])["error"]


@pytest.mark.parametrize("digits", ["\u0666", "\uff16", "\u0969", "6\u0666"])
def test_url_non_ascii_digits_are_400(digits: str) -> None:
    # int("\u0666") == 6 in Python; only ASCII digits are numbers here, as in JSON.
    query = urllib.parse.urlencode({"number": digits})
    for event in (
        url_event("GET", query=query, content_type=None),
        url_event(body=query, content_type="application/x-www-form-urlencoded"),
    ):
        status, payload = call_url(event)
        assert status == 400
        assert "must be a decimal number" in payload["error"]


@pytest.mark.parametrize(
    ("body", "key"),
    [('{"number": 2, "number": 3}', "'number'"), ('{"number": 6, "meta": {"a": 1, "a": 2}}', "'a'")],
)
def test_url_repeated_json_keys_are_400(body: str, key: str) -> None:
    status, payload = call_url(url_event(body=body))
    assert status == 400
    assert payload["error"] == f"request body repeats the key {key}; give each key once"


def test_url_crafted_method_is_neither_echoed_in_full_nor_splits_the_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    method = "X\nPOST 200 forged" + "Y" * 5000
    response = handler.lambda_handler(url_event(method, body='{"number": 6}'), None)
    assert response["statusCode"] == 405
    assert len(json.loads(response["body"])["error"]) < 200
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert not lines[0].startswith("POST")


def test_url_method_is_case_insensitive() -> None:
    assert call_url(url_event("post", body='{"number": 5}')) == (200, {"result": 25})


def test_url_response_shape() -> None:
    response = handler.lambda_handler(url_event(body='{"number": 6}'), None)
    assert response == {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": '{"result": 36}',
        "isBase64Encoded": False,
    }


# ----------------------------------------------------------------------------- logging


def test_one_concise_log_line_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    secret_padding = "p" * 500
    handler.lambda_handler(url_event(body=json.dumps({"number": 6, "pad": secret_padding})), None)
    handler.lambda_handler(url_event(body='{"number": "x"}'), None)
    handler.lambda_handler({"number": 2}, None)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("POST 200 ") and lines[0].endswith("ms")
    assert lines[1].startswith("POST 400 'number' must be a number, got string")
    assert lines[2].startswith("INVOKE ok ")
    assert all(secret_padding not in line and len(line) < 200 for line in lines)


# ---------------------------------------------------------------------- properties


@given(st.integers(min_value=-(10**2150) + 1, max_value=10**2150 - 1))
def test_property_integers_square_exactly(number: int) -> None:
    assert handler.lambda_handler({"number": number}, None) == {"result": number * number}
    status, payload = call_url(url_event(body=json.dumps({"number": number})))
    assert (status, payload) == (200, {"result": number * number})


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150))
def test_property_floats_square(number: float) -> None:
    status, payload = call_url(url_event(body=json.dumps({"number": number})))
    assert status == 200
    assert payload["result"] == number * number


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) > 1.4e154))
def test_property_float_overflow_is_400(number: float) -> None:
    status, payload = call_url(url_event(body=json.dumps({"number": number})))
    assert status == 400
    assert "overflows" in payload["error"]


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_property_get_and_form_agree_with_json(number: int) -> None:
    expected = (200, {"result": number * number})
    assert call_url(url_event("GET", query=f"number={number}", content_type=None)) == expected
    assert call_url(url_event(body=f"number={number}", content_type="application/x-www-form-urlencoded")) == expected


@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_property_arbitrary_bodies_never_crash(body: str) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded", None):
        response = handler.lambda_handler(url_event(body=body, content_type=content_type), None)
        assert response["statusCode"] in {200, 400}
        payload = json.loads(response["body"])
        assert set(payload) == ({"result"} if response["statusCode"] == 200 else {"error"})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
        max_leaves=10,
    )
)
def test_property_arbitrary_direct_events_never_raise(event: Any) -> None:
    result = handler.lambda_handler(event, None)
    assert set(result) in ({"result"}, {"error"})
