"""Function URL requests get AWS's gateway behaviour in embedded mode (embedded_localstack/service/patches/).

A real LocalStack, a real function behind a real Function URL: the function echoes what its event holds, so
each test sees exactly what reached it (or that nothing did).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator

import pytest
import requests
from embedded_helpers import ROLE_ARN, public_function_url
from support import build_zip

pytestmark = pytest.mark.embedded

ECHO = """
import json
def lambda_handler(event, context):
    body = event.get("body")
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"body": body if body is None or len(body) < 200 else len(body),
                                "isBase64Encoded": event["isBase64Encoded"],
                                "content-encoding": event["headers"].get("content-encoding")})}
"""
LIMIT = 6 * 1024 * 1024 + 100
"""Lambda's synchronous payload limit as AWS's errors quote it (6291556 bytes)."""
JSON = {"Content-Type": "application/json"}
BINARY = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def echo_url(aws, embedded) -> Iterator[tuple[requests.Session, str, dict[str, str]]]:
    """(session, gateway address, Host header) of an echo function's URL."""
    name = "embedded-url-echo"
    aws.lambda_.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE_ARN,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": build_zip({"lambda_function.py": ECHO})},
    )
    try:
        aws.lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        url = public_function_url(aws.lambda_, name)
        with requests.Session() as session:
            session.trust_env = False
            yield session, f"{embedded.endpoint}/", {"Host": requests.utils.urlparse(url).netloc}
    finally:
        aws.lambda_.delete_function(FunctionName=name)


def post(echo_url, data, headers: dict[str, str]) -> requests.Response:
    session, address, host = echo_url
    return session.post(address, data=data, headers={**host, **headers}, timeout=60)


def assert_refused_as_too_large(response: requests.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["x-amzn-ErrorType"] == "RequestTooLargeException"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "Type": "User",
        "message": f"Request must be smaller than {LIMIT} bytes for the Invoke operation",
    }


def test_body_labelled_gzip_but_not_gzip_reaches_the_function_untouched(echo_url):
    # LocalStack's own ContentDecoder answers this with 500 "Not a gzipped file".
    response = post(echo_url, b'{"number": 6}', {**JSON, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"body": '{"number": 6}', "isBase64Encoded": False, "content-encoding": "gzip"}


def test_gzip_body_is_passed_compressed_never_inflated(echo_url):
    compressed = gzip.compress(b"0" * (8 * 1024 * 1024))  # ~8 KB on the wire, 8 MiB inflated
    response = post(echo_url, compressed, {**JSON, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text[:300]
    echoed = response.json()
    assert echoed["isBase64Encoded"] is True
    assert echoed["content-encoding"] == "gzip"
    assert echoed["body"] == len(base64.b64encode(compressed))


def test_body_over_the_limit_is_refused_before_the_function(echo_url):
    assert_refused_as_too_large(post(echo_url, b"x" * (LIMIT + 1), JSON))


def test_binary_body_whose_base64_event_exceeds_the_limit_is_refused(echo_url):
    # 5 MiB of bytes is under the limit, its base64 in the event (6.7 MiB) is not: AWS counts the event.
    assert_refused_as_too_large(post(echo_url, b"\xff" * (5 * 1024 * 1024), BINARY))


def test_chunked_body_over_the_limit_is_refused(echo_url):
    # No Content-Length to check up front: the event's size decides.
    chunks = (b"y" * (1024 * 1024) for _ in range(7))
    assert_refused_as_too_large(post(echo_url, chunks, JSON))


def test_binary_body_under_the_limit_after_base64_reaches_the_function(echo_url):
    data = b"\xff" * (4 * 1024 * 1024)
    response = post(echo_url, data, BINARY)
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"body": len(base64.b64encode(data)), "isBase64Encoded": True, "content-encoding": None}


def test_other_requests_keep_localstacks_gzip_decoding(aws, echo_url, embedded):
    # Only Function URL requests skip the decoder: a gzip-compressed Invoke API call is still inflated.
    session, _, _ = echo_url
    response = session.post(
        f"{embedded.endpoint}/2015-03-31/functions/embedded-url-echo/invocations",
        data=gzip.compress(json.dumps({"version": "2.0", "headers": {}, "isBase64Encoded": False}).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]
    assert json.loads(response.json()["body"]) == {"body": None, "isBase64Encoded": False, "content-encoding": None}


def test_a_form_body_reaches_the_function_as_sent(echo_url):
    # LocalStack rebuilt form bodies from werkzeug's parsed fields ("flag=&a=~&b=x+y"); AWS passes the bytes on.
    sent = b"flag&a=%7E&b=x+y"
    response = post(echo_url, sent, {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {
        "body": base64.b64encode(sent).decode(),
        "isBase64Encoded": True,
        "content-encoding": None,
    }
