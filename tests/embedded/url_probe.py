"""Helpers for the Function URL access and CORS tests: a function that leaves a mark when it runs, and SigV4.

The probe function writes an S3 object named after the request's ``x-probe`` header before it answers. A URL
invocation is synchronous, so when the answer arrives the mark is there if, and only if, the function ran.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from embedded_helpers import REGION, ROLE_ARN, public_function_url
from support import build_zip

from lambda_url_harness.aws import localstack_session
from lambda_url_harness.function_url import function_url_session

PROBE_HANDLER = """
import json, os
import boto3
s3 = boto3.client("s3")
def lambda_handler(event, context):
    headers = event["headers"]
    s3.put_object(Bucket=os.environ["PROBE_BUCKET"], Key=headers.get("x-probe", "none"), Body=b"ran")
    answer = {"content-type": "application/json", "x-from-function": "yes"}
    if "x-function-sets-origin" in headers:  # a function that sends its own CORS header
        answer["access-control-allow-origin"] = headers["x-function-sets-origin"]
    return {"statusCode": 200, "headers": answer,
            "body": json.dumps({"method": event["requestContext"]["http"]["method"],
                                "authorization": headers.get("authorization"), "body": event.get("body")})}
"""
FORBIDDEN = {
    "Message": "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
}
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


@dataclass
class ProbeFunction:
    """A deployed probe function and the gateway it is reached through."""

    name: str
    endpoint: str
    bucket: str
    lambda_: Any
    s3: Any
    session: requests.Session

    def url(self, auth_type: str = "NONE", qualifier: str | None = None, **config: Any) -> str:
        arguments = {"Qualifier": qualifier} if qualifier else {}
        return str(
            self.lambda_.create_function_url_config(FunctionName=self.name, AuthType=auth_type, **arguments, **config)[
                "FunctionUrl"
            ]
        )

    def public_url(self, **config: Any) -> str:
        """A URL with AuthType NONE and the public permission AWS requires."""
        return public_function_url(self.lambda_, self.name, **config)

    def send(
        self, url: str, method: str = "GET", path_and_query: str = "/", **kwargs: Any
    ) -> tuple[requests.Response, bool]:
        """Send to ``url`` + ``path_and_query`` (routed, Host kept); (answer, whether the function ran)."""
        probe = uuid.uuid4().hex
        headers = {"x-probe": probe, **kwargs.pop("headers", {})}
        target = url.rstrip("/") + path_and_query
        response = self.session.request(method, target, headers=headers, timeout=60, **kwargs)
        return response, self.ran(probe)

    def ran(self, probe: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=probe)
        except self.s3.exceptions.ClientError:
            return False
        return True


@contextlib.contextmanager
def probe_function(endpoint: str, lambda_client: Any) -> Iterator[ProbeFunction]:
    name = f"url-probe-{uuid.uuid4().hex[:10]}"
    s3 = localstack_session(REGION).client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=name)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE_ARN,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": build_zip({"lambda_function.py": PROBE_HANDLER})},
        Environment={"Variables": {"PROBE_BUCKET": name}},
        Timeout=30,
    )
    try:
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        with function_url_session(endpoint) as session:
            yield ProbeFunction(name, endpoint, name, lambda_client, s3, session)
    finally:
        lambda_client.delete_function(FunctionName=name)
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


def sigv4_headers(
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    key: str = "test",
    secret: str = "test",
    token: str | None = None,
    at: datetime | None = None,
    service: str = "lambda",
    region: str = REGION,
    unsigned: tuple[str, ...] = (),
) -> dict[str, str]:
    """Headers (Authorization, X-Amz-Date, ...) signing ``method url body headers`` at time ``at`` with botocore's
    signer; ``unsigned`` header names are sent but left out of the signature."""
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    sent = {"host": urlsplit(url).netloc, "x-amz-date": stamp, **{k.lower(): v for k, v in (headers or {}).items()}}
    if token is not None:
        sent["x-amz-security-token"] = token
    request = AWSRequest(method=method, url=url, data=body, headers=sent)
    request.context["timestamp"] = stamp

    class Signer(SigV4Auth):
        def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
            selected = HTTPHeaders()
            for name, value in sent.items():
                if name not in unsigned:
                    selected[name] = value
            return selected

    signer = Signer(Credentials(key, secret, token), service, region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={key}/{stamp[:8]}/{region}/{service}/aws4_request, "
        f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, Signature={signature}"
    )
    return {**{k: v for k, v in sent.items() if k != "host"}, "Authorization": authorization}
