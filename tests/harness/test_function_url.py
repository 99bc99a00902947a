"""Routing LocalStack-only Function URL hosts to the endpoint, with real HTTP on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from lambda_url_harness.errors import FunctionUrlError
from lambda_url_harness.function_url import (
    FunctionUrlAuth,
    curl_command,
    function_url_session,
    is_local_only_host,
    routed_url,
    wait_for_status,
)

URL = "http://abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566/"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("abc.lambda-url.us-east-1.localhost.localstack.cloud", True),
        ("localhost.localstack.cloud", True),
        ("abc.lambda-url.us-east-1.localhost", True),
        ("abc.lambda-url.eu-west-1.on.aws", False),
        ("127.0.0.1", False),
        ("", False),
        (None, False),
    ],
)
def test_only_localstack_hosts_are_rerouted(host: str | None, expected: bool) -> None:
    assert is_local_only_host(host) is expected


def test_routed_url_keeps_path_query_and_original_host() -> None:
    url, host = routed_url(URL + "path?q=1", "http://127.0.0.1:4599")
    assert url == "http://127.0.0.1:4599/path?q=1"
    assert host == "abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566"


def test_real_aws_urls_are_untouched() -> None:
    aws = "https://abc.lambda-url.eu-west-1.on.aws/"
    assert routed_url(aws, "http://127.0.0.1:4566") == (aws, None)


def test_endpoint_without_host_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="has no host"):
        routed_url(URL, "127.0.0.1:4566")


def test_session_sends_to_endpoint_with_the_url_host_header(fake_localstack) -> None:
    with function_url_session(fake_localstack.endpoint) as session:
        response = session.post(URL, json={"number": 6}, timeout=10)
    assert response.status_code == 200
    seen = response.json()
    assert seen["host"] == "abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566"
    assert seen["path"] == "/"
    assert json.loads(seen["body"]) == {"number": 6}


def test_wait_for_status_reports_the_last_answer(fake_localstack) -> None:
    with function_url_session(fake_localstack.endpoint) as session, pytest.raises(FunctionUrlError) as error:
        wait_for_status(session, URL, {"number": 6}, expected_status=201, attempts=2, interval_s=0.01)
    assert "after 2 attempts" in str(error.value)
    assert "HTTP 200" in str(error.value)
    assert len(fake_localstack.requests) == 2


def test_curl_command_uses_connect_to_for_local_hosts() -> None:
    argv = curl_command(URL, "http://127.0.0.1:4599", {"number": 6})
    assert (
        argv[argv.index("--connect-to") + 1]
        == "abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566:127.0.0.1:4599"
    )
    assert argv[-1] == URL
    assert "Content-Type: application/json" in argv
    assert '{"number":6}' in argv


def test_curl_command_for_aws_has_no_routing() -> None:
    assert "--connect-to" not in curl_command("https://abc.lambda-url.eu-west-1.on.aws/", "http://127.0.0.1:4566")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_printed_curl_command_really_works(fake_localstack) -> None:
    argv = curl_command(URL, fake_localstack.endpoint, {"number": 6})
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    seen = json.loads(completed.stdout)
    assert seen["host"] == "abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566"
    assert json.loads(seen["body"]) == {"number": 6}


def test_the_signer_signs_for_the_url_host_and_region_and_sends_the_canonical_query(fake_localstack) -> None:
    with function_url_session(fake_localstack.endpoint, FunctionUrlAuth()) as session:
        seen = session.post(URL + "p", params={"q": "a b"}, json={"number": 6}, timeout=10).json()
    assert seen["host"] == "abc123.lambda-url.us-east-1.localhost.localstack.cloud:4566"  # what was signed
    assert seen["path"] == "/p?q=a%20b"  # requests' "a+b" would be read as "a+b" by SigV4
    assert seen["body"] == '{"number": 6}'


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        ("http://127.0.0.1:4566/", b"", "names no region"),
        (URL, iter([b"chunk"]), "SigV4 signs the whole body"),
    ],
)
def test_the_signer_refuses_what_it_cannot_sign(fake_localstack, url: str, body: object, message: str) -> None:
    with (
        function_url_session(fake_localstack.endpoint, FunctionUrlAuth()) as session,
        pytest.raises(ValueError, match=message),
    ):
        session.post(url, data=body, timeout=10)
