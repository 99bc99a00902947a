"""Function URLs answer CORS from their Cors config as AWS does; the AWS API keeps LocalStack's gateway CORS.

A real embedded LocalStack and the probe function (url_probe.py: it leaves a mark whenever it runs). LocalStack
4.9.2 answers every OPTIONS itself with 204, refuses an Origin outside its allow-list with an empty 403 and adds
its own CORS headers, whatever the URL's config (embedded_localstack/service/patches/function_url_cors.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from url_probe import FORBIDDEN, ProbeFunction, probe_function

pytestmark = pytest.mark.embedded

APP = "https://app.example"
OTHER = "https://attacker.example"
FULL_CORS = {
    "AllowOrigins": [APP],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["content-type", "x-custom"],
    "ExposeHeaders": ["x-from-function", "x-amzn-requestid"],
    "MaxAge": 300,
    "AllowCredentials": True,
}
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.fixture
def probe(aws, embedded) -> Iterator[ProbeFunction]:
    with probe_function(embedded.endpoint, aws.lambda_) as function:
        yield function


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {
        name.lower(): value for name, value in response.headers.items() if name.lower().startswith("access-control-")
    }


def test_a_preflight_from_an_allowed_origin_is_answered_from_the_config(probe):
    url = probe.public_url(Cors=FULL_CORS)
    answer, ran = probe.send(url, "OPTIONS", headers={"Origin": APP, **PREFLIGHT})
    assert not ran, "the function ran for a preflight"
    assert answer.status_code == 200
    assert answer.content == b""
    assert cors_headers(answer) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "content-type,x-custom",
        "access-control-max-age": "300",
        "access-control-allow-credentials": "true",
    }
    assert answer.headers["vary"] == "Origin"


def test_a_preflight_from_another_origin_gets_no_cors_headers_and_no_invocation(probe):
    url = probe.public_url(Cors=FULL_CORS)
    answer, ran = probe.send(url, "OPTIONS", headers={"Origin": OTHER, **PREFLIGHT})
    assert not ran
    assert answer.status_code == 200
    assert cors_headers(answer) == {}


def test_an_allowed_origins_request_runs_and_its_answer_carries_the_cors_headers(probe):
    url = probe.public_url(Cors=FULL_CORS)
    answer, ran = probe.send(url, "POST", json={"number": 6}, headers={"Origin": APP})
    assert ran
    assert answer.headers["x-from-function"] == "yes"
    assert cors_headers(answer) == {
        "access-control-allow-origin": APP,
        "access-control-expose-headers": "x-from-function,x-amzn-requestid",
        "access-control-allow-credentials": "true",
    }
    assert answer.headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", [OTHER, None])
def test_other_origins_and_no_origin_run_without_cors_headers(probe, origin):
    url = probe.public_url(Cors=FULL_CORS)
    answer, ran = probe.send(url, "POST", json={"number": 6}, headers={"Origin": origin} if origin else {})
    assert ran, "the request must still run: the browser, not the service, enforces CORS"
    assert answer.status_code == 200
    assert cors_headers(answer) == {}


def test_the_wildcard_origin_allows_any_origin_and_answers_with_it(probe):
    url = probe.public_url(Cors={"AllowOrigins": ["*"], "AllowMethods": ["*"]})
    preflight, ran = probe.send(url, "OPTIONS", headers={"Origin": OTHER, **PREFLIGHT})
    assert not ran
    assert cors_headers(preflight) == {"access-control-allow-origin": OTHER, "access-control-allow-methods": "*"}
    answer, ran = probe.send(url, headers={"Origin": OTHER})
    assert ran
    assert cors_headers(answer) == {"access-control-allow-origin": OTHER}


def test_an_origin_must_match_exactly(probe):
    url = probe.public_url(Cors={"AllowOrigins": [APP, "https://*.example"]})
    for origin in ("https://app.example:443", "http://app.example", "https://sub.example"):
        answer, ran = probe.send(url, headers={"Origin": origin})
        assert ran
        assert cors_headers(answer) == {}, origin


def test_the_functions_own_cors_header_is_kept_next_to_the_configured_one(probe):
    # As AWS answers: both values reach the browser (which then refuses the answer).
    url = probe.public_url(Cors={"AllowOrigins": [APP]})
    answer, _ = probe.send(url, headers={"Origin": APP, "x-function-sets-origin": APP})
    assert answer.raw.headers.getlist("access-control-allow-origin") == [APP, APP]


def test_without_a_cors_config_options_and_foreign_origins_reach_the_function(probe):
    url = probe.public_url()
    options, ran = probe.send(url, "OPTIONS", headers={"Origin": OTHER, **PREFLIGHT})
    assert ran, "without Cors an OPTIONS is the function's to answer"
    assert options.status_code == 200
    assert options.json()["method"] == "OPTIONS"
    foreign, ran = probe.send(url, "POST", json={}, headers={"Origin": OTHER})
    assert ran
    assert foreign.status_code == 200
    assert cors_headers(options) == cors_headers(foreign) == {}  # none of LocalStack's gateway CORS headers


def test_an_iam_url_answers_preflights_unsigned_but_refuses_unsigned_requests(probe):
    url = probe.url("AWS_IAM", Cors={"AllowOrigins": [APP], "AllowMethods": ["POST"]})
    preflight, ran = probe.send(url, "OPTIONS", headers={"Origin": APP, **PREFLIGHT})
    assert not ran
    assert preflight.status_code == 200
    assert cors_headers(preflight)["access-control-allow-origin"] == APP
    refused, ran = probe.send(url, "POST", json={}, headers={"Origin": APP})
    assert not ran
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
    # "Lambda automatically adds the CORS headers to all responses through the function URL" (AWS docs), so a
    # browser can read the refusal.
    assert cors_headers(refused) == {"access-control-allow-origin": APP}


def test_the_aws_api_keeps_localstacks_gateway_cors(embedded):
    with requests.Session() as session:
        session.trust_env = False
        api = f"{embedded.endpoint}/2015-03-31/functions/"
        foreign = session.get(api, headers={"Origin": OTHER}, timeout=30)
        preflight = session.options(api, headers={"Origin": "https://app.localstack.cloud", **PREFLIGHT}, timeout=30)
    assert (foreign.status_code, foreign.content) == (403, b"")  # LocalStack's CorsEnforcer
    assert preflight.status_code == 204
    assert "access-control-allow-methods" in cors_headers(preflight)
