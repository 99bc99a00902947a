"""Function URL error answers keep AWS's shapes: throttling 429, a failing function 502.

A real embedded LocalStack. LocalStack 4.9.2 lets the throttle escape its URL router as ``500 {"error": "Unexpected
exception", ...}`` (embedded_localstack/service/patches/function_url_throttling.py); the 502 is its own and AWS's.
"""

from __future__ import annotations

import pytest
from embedded_helpers import public_function_url

from lambda_url_harness.function_url import function_url_session

pytestmark = pytest.mark.embedded

HANDLER = """
def lambda_handler(event, context):
    if event["rawPath"] == "/raise":
        raise ValueError("the function failed")
    return {"statusCode": 200, "body": "ran"}
"""


@pytest.fixture
def url_and_name(aws, deploy_function) -> tuple[str, str]:
    name = deploy_function({"lambda_function.py": HANDLER})
    return public_function_url(aws.lambda_, name), name


def test_a_url_of_a_function_without_concurrency_answers_429(aws, embedded, url_and_name):
    url, name = url_and_name
    with function_url_session(embedded.endpoint) as session:
        assert session.get(url, timeout=60).text == "ran"
        aws.lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)  # AWS: "deactivate"
        throttled = session.get(url, timeout=60)
        assert throttled.status_code == 429, throttled.text
        assert throttled.headers["x-amzn-ErrorType"] == "ThrottlingException"
        assert throttled.json() == {"message": "Rate Exceeded."}
        aws.lambda_.delete_function_concurrency(FunctionName=name)
        assert session.get(url, timeout=60).text == "ran"


def test_a_failing_function_answers_502(embedded, url_and_name):
    url, _ = url_and_name
    with function_url_session(embedded.endpoint) as session:
        failed = session.get(url.rstrip("/") + "/raise", timeout=60)
    assert (failed.status_code, failed.text) == (502, "Internal Server Error")
