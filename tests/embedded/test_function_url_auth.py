"""Function URLs answer as AWS does for AuthType AWS_IAM (SigV4) and NONE (the resource policy).

A real embedded LocalStack; the probe function leaves a mark in S3 whenever it runs (url_probe.py), so each refusal
is also checked to happen before the function. LocalStack 4.9.2 (in Docker too) answers all of these with the
function's 200 (embedded_localstack/service/patches/function_url_auth.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from embedded_helpers import REGION
from url_probe import FORBIDDEN, MISMATCH, ProbeFunction, probe_function, sigv4_headers

from lambda_url_harness.function_url import FunctionUrlAuth

pytestmark = pytest.mark.embedded

BODY = b'{"number": 6}'
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def probe(aws, embedded) -> Iterator[ProbeFunction]:
    with probe_function(embedded.endpoint, aws.lambda_) as function:
        yield function


@pytest.fixture
def fresh_probe(aws, embedded) -> Iterator[ProbeFunction]:
    """A probe function of its own (its policy is the test's)."""
    with probe_function(embedded.endpoint, aws.lambda_) as function:
        yield function


@pytest.fixture(scope="module")
def iam_url(probe: ProbeFunction) -> str:
    return probe.url("AWS_IAM")


def signed_url(url: str, path_and_query: str = "/") -> str:
    return url.rstrip("/") + path_and_query


def assert_refused(answer, ran: bool, status: int, error_type: str, body: dict) -> None:
    response_text = answer.text[:400]
    assert not ran, "the function ran for a refused request"
    assert answer.status_code == status, response_text
    assert answer.headers["x-amzn-ErrorType"] == error_type, response_text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == body


def assert_ran(answer, ran: bool) -> None:
    assert answer.status_code == 200, answer.text[:400]
    assert answer.headers["x-from-function"] == "yes"
    assert ran


# --------------------------------------------------------------------------------------------- AuthType AWS_IAM
def _signed_then(change: str, url: str) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path and query, body, headers) of a request signed as POST /p?a=1 BODY JSON, then changed."""
    headers = sigv4_headers("POST", signed_url(url, "/p?a=1"), BODY, JSON)
    method, path, body, sent = "POST", "/p?a=1", BODY, {**headers}
    if change == "method":
        method = "PUT"
    elif change == "path":
        path = "/q?a=1"
    elif change == "query":
        path = "/p?a=2"
    elif change == "signed header":
        sent["content-type"] = "text/plain"
    elif change == "body":
        body = b'{"number": 7}'
    elif change == "declared body hash":
        sent["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    return method, path, body, sent


@pytest.mark.parametrize("change", ["method", "path", "query", "signed header", "body", "declared body hash"])
def test_a_request_changed_after_signing_is_refused(probe, iam_url, change):
    method, path, body, headers = _signed_then(change, iam_url)
    answer, ran = probe.send(iam_url, method, path, data=body, headers=headers)
    assert_refused(answer, ran, 403, "InvalidSignatureException", {"message": MISMATCH})


def test_the_unchanged_signed_request_runs(probe, iam_url):
    method, path, body, headers = _signed_then("nothing", iam_url)
    assert_ran(*probe.send(iam_url, method, path, data=body, headers=headers))


REFUSED_SIGNATURES = {
    "unsigned": ({}, "AccessDeniedException", FORBIDDEN),
    "a bearer token": ({"Authorization": "Bearer abc.def"}, "AccessDeniedException", FORBIDDEN),
    "no Signature or SignedHeaders": (
        {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request"},
        "IncompleteSignatureException",
        {
            "message": "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter."
        },
    ),
    "a credential of three parts": (
        {"Authorization": "AWS4-HMAC-SHA256 Credential=test/x/y, SignedHeaders=host, Signature=00", "X-Amz-Date": "x"},
        "IncompleteSignatureException",
        {
            "message": "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got 'test/x/y'"
        },
    ),
    "no date": (
        {
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, "
            "SignedHeaders=host, Signature=00"
        },
        "IncompleteSignatureException",
        {"message": "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_SIGNATURES))
def test_missing_or_malformed_signatures_are_refused(probe, iam_url, case):
    headers, error_type, body = REFUSED_SIGNATURES[case]
    answer, ran = probe.send(iam_url, headers=headers)
    assert_refused(answer, ran, 403, error_type, body)


@pytest.mark.parametrize(
    ("case", "message_start"),
    [
        ("signed 30 minutes ago", "Signature expired: "),
        ("signed 30 minutes ahead", "Signature not yet current: "),
        ("signed with another secret", MISMATCH),
        ("scoped to another service", "Credential should be scoped to correct service: 'lambda'."),
        ("scoped to another region", "Credential should be scoped to a valid region."),
        ("host not signed", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    ],
)
def test_signatures_out_of_time_or_scope_are_refused(probe, iam_url, case, message_start):
    now = datetime.now(UTC)  # at the call: the run may be long past collection
    options = {
        "signed 30 minutes ago": {"at": now - timedelta(minutes=30)},
        "signed 30 minutes ahead": {"at": now + timedelta(minutes=30)},
        "signed with another secret": {"secret": "not-the-secret"},
        "scoped to another service": {"service": "execute-api"},
        "scoped to another region": {"region": "eu-west-1"},
        "host not signed": {"unsigned": ("host",)},
    }[case]
    answer, ran = probe.send(iam_url, headers=sigv4_headers("GET", iam_url, **options))
    assert not ran
    assert answer.status_code == 403, answer.text
    assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert answer.json()["message"].startswith(message_start), answer.text
    if case == "signed 30 minutes ago":  # AWS's wording, with its 15-minute window
        assert answer.json()["message"].endswith(" - 15 min.)")


def test_a_signature_14_minutes_old_is_still_accepted(probe, iam_url):
    assert_ran(
        *probe.send(iam_url, headers=sigv4_headers("GET", iam_url, at=datetime.now(UTC) - timedelta(minutes=14)))
    )


def test_the_harness_signer_reaches_an_iam_url(probe, iam_url):
    answer, ran = probe.send(iam_url, "POST", "/a%20b?x=1&y=a+b", data=BODY, headers=JSON, auth=FunctionUrlAuth())
    assert_ran(answer, ran)
    assert answer.json()["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")  # passed to the function


def _presigned(url: str, expires: int, at: datetime | None = None) -> str:
    """Path and query of ``url?number=9`` presigned by botocore (at ``at``: botocore signs "now")."""
    request = AWSRequest(method="GET", url=url + "?number=9")
    signer = SigV4QueryAuth(Credentials("test", "test"), "lambda", REGION, expires=expires)
    clock = at.replace(tzinfo=None) if at is not None else datetime.now(UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=clock):
        signer.add_auth(request)
    parts = urlsplit(request.url)
    return f"{parts.path}?{parts.query}"


def test_a_presigned_request_runs_and_a_changed_or_expired_one_does_not(probe, iam_url):
    base = iam_url.rstrip("/")
    assert_ran(*probe.send(iam_url, path_and_query=_presigned(base, 60)))
    tampered = _presigned(base, 60).replace("number=9", "number=8")
    assert_refused(
        *probe.send(iam_url, path_and_query=tampered), 403, "InvalidSignatureException", {"message": MISMATCH}
    )
    expired, ran = probe.send(iam_url, path_and_query=_presigned(base, 60, at=datetime.now(UTC) - timedelta(minutes=5)))
    assert not ran
    assert expired.status_code == 403
    assert expired.json()["message"].startswith("Signature expired: ")


def test_localstacks_sts_and_iam_credentials_sign_with_their_own_secrets(probe, iam_url, embedded):
    clients = {"endpoint_url": embedded.endpoint, "region_name": REGION}
    clients |= {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    issued = boto3.client("sts", **clients).assume_role(
        RoleArn="arn:aws:iam::000000000000:role/url-caller", RoleSessionName="url-test"
    )["Credentials"]
    key, secret, token = issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
    assert_ran(*probe.send(iam_url, headers=sigv4_headers("GET", iam_url, key=key, secret=secret, token=token)))
    for wrong, body in [
        ({"token": "not-the-token"}, {"message": "The security token included in the request is invalid."}),
        ({"token": None}, {"message": "The security token included in the request is invalid."}),
        ({"token": token, "secret": "test"}, {"message": MISMATCH}),
    ]:
        options = {"key": key, "secret": secret} | wrong
        answer, ran = probe.send(iam_url, headers=sigv4_headers("GET", iam_url, **options))
        assert not ran
        assert (answer.status_code, answer.json()) == (403, body)

    iam = boto3.client("iam", **clients)
    user = f"url-user-{probe.name}"
    iam.create_user(UserName=user)
    try:
        created = iam.create_access_key(UserName=user)["AccessKey"]
        own = sigv4_headers("GET", iam_url, key=created["AccessKeyId"], secret=created["SecretAccessKey"])
        assert_ran(*probe.send(iam_url, headers=own))
        conventional = sigv4_headers("GET", iam_url, key=created["AccessKeyId"], secret="test")
        assert_refused(
            *probe.send(iam_url, headers=conventional), 403, "InvalidSignatureException", {"message": MISMATCH}
        )
        iam.delete_access_key(UserName=user, AccessKeyId=created["AccessKeyId"])
    finally:
        iam.delete_user(UserName=user)


def test_another_account_needs_the_functions_permission(fresh_probe):
    url = fresh_probe.url("AWS_IAM")
    other = sigv4_headers("GET", url, key="111111111111")  # LocalStack: a 12-digit key is that account
    assert_refused(*fresh_probe.send(url, headers=other), 403, "AccessDeniedException", FORBIDDEN)
    fresh_probe.lambda_.add_permission(
        FunctionName=fresh_probe.name,
        StatementId="OtherAccount",
        Action="lambda:InvokeFunctionUrl",
        Principal="111111111111",
        FunctionUrlAuthType="AWS_IAM",
    )
    assert_ran(*fresh_probe.send(url, headers=sigv4_headers("GET", url, key="111111111111")))
    assert_ran(*fresh_probe.send(url, headers=sigv4_headers("GET", url)))  # the own account needs no statement


# ------------------------------------------------------------------------------------------------ AuthType NONE
def _statement(effect: str = "Allow", principal: object = "*", action: str = "lambda:InvokeFunctionUrl", **more):
    return {"Effect": effect, "Principal": principal, "Action": action, **more}


NONE_POLICIES = {
    # (AddPermission calls, whether the URL answers)
    "no policy": ([], False),
    "InvokeFunctionUrl to * with AWS's condition": ([{"FunctionUrlAuthType": "NONE"}], True),
    "InvokeFunctionUrl to * without a condition": ([{}], True),
    "InvokeFunctionUrl to * for AWS_IAM URLs only": ([{"FunctionUrlAuthType": "AWS_IAM"}], False),
    "InvokeFunctionUrl to one account": ([{"Principal": "000000000000", "FunctionUrlAuthType": "NONE"}], False),
    "InvokeFunction only": ([{"Action": "lambda:InvokeFunction"}], False),
    "lambda:* to *": ([{"Action": "lambda:*"}], True),
}


@pytest.mark.parametrize("case", list(NONE_POLICIES))
def test_a_public_url_answers_only_with_the_public_permission(fresh_probe, case):
    grants, answers = NONE_POLICIES[case]
    url = fresh_probe.url("NONE")
    for index, grant in enumerate(grants):
        arguments = {"Action": "lambda:InvokeFunctionUrl", "Principal": "*"} | grant
        fresh_probe.lambda_.add_permission(FunctionName=fresh_probe.name, StatementId=f"s{index}", **arguments)
    answer, ran = fresh_probe.send(url)
    if answers:
        assert_ran(answer, ran)
    else:
        assert_refused(answer, ran, 403, "AccessDeniedException", FORBIDDEN)


def test_a_signed_request_to_a_public_url_reaches_the_function_with_its_authorization(fresh_probe):
    url = fresh_probe.public_url()
    answer, ran = fresh_probe.send(url, headers={"Authorization": "Bearer my-own-token"})
    assert_ran(answer, ran)
    assert answer.json()["authorization"] == "Bearer my-own-token"  # AuthType NONE: Lambda checks no signature


def test_an_alias_url_is_checked_against_the_aliases_policy(fresh_probe):
    client, name = fresh_probe.lambda_, fresh_probe.name
    version = client.publish_version(FunctionName=name)["Version"]
    client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    latest_url, alias_url = fresh_probe.url("NONE"), fresh_probe.url("NONE", qualifier="live")
    public = {"Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"}
    client.add_permission(FunctionName=name, StatementId="LatestOnly", **public)
    assert_ran(*fresh_probe.send(latest_url))
    assert_refused(*fresh_probe.send(alias_url), 403, "AccessDeniedException", FORBIDDEN)
    client.add_permission(FunctionName=name, Qualifier="live", StatementId="AliasToo", **public)
    assert_ran(*fresh_probe.send(alias_url))
    client.remove_permission(FunctionName=name, StatementId="LatestOnly")
    assert_refused(*fresh_probe.send(latest_url), 403, "AccessDeniedException", FORBIDDEN)
    assert_ran(*fresh_probe.send(alias_url))


def test_an_unknown_url_id_keeps_aws_answer(probe, embedded):
    # LocalStack already answers as AWS does (its AWS-validated test_lambda_url_non_existing_url).
    host = f"0123456789abcdefghijklmnopqrstuv.lambda-url.{REGION}.localhost.localstack.cloud:1"
    answer = probe.session.get(f"{embedded.endpoint}/", headers={"Host": host}, timeout=30)
    assert (answer.status_code, answer.text) == (403, '{"Message":null}')
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_add_permission_keeps_invoked_via_function_url_as_awss_condition(fresh_probe):
    # LocalStack 4.9.2's spec predates the member: its parser dropped it and stored an unconditional statement.
    fresh_probe.lambda_.add_permission(
        FunctionName=fresh_probe.name,
        StatementId="FunctionURLInvokeAllowPublicAccess",
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )
    (statement,) = json.loads(fresh_probe.lambda_.get_policy(FunctionName=fresh_probe.name)["Policy"])["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}


def test_a_signed_form_body_reaches_the_function_once(probe, iam_url):
    # The signature check reads the raw body first; the event must still carry it once, as sent.
    form = {"content-type": "application/x-www-form-urlencoded"}
    headers = sigv4_headers("POST", iam_url, b"number=6", form)
    answer, ran = probe.send(iam_url, "POST", data=b"number=6", headers=headers)
    assert_ran(answer, ran)
    assert answer.json()["body"] == base64.b64encode(b"number=6").decode()
