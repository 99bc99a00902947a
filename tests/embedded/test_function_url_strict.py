"""The opt-in settings of Function URL access, on a LocalStack of their own started with them.

``strict_url_policy`` (``EMBEDDED_LAMBDA_URL_STRICT_POLICY=on``): AWS's rule for URLs created since October 2025,
which also needs ``lambda:InvokeFunction`` with the ``lambda:InvokedViaFunctionUrl`` condition. ``url_credentials``
(``EMBEDDED_LAMBDA_URL_CREDENTIALS``): more access key / secret pairs for SigV4.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.config import Config
from embedded_helpers import REGION, stop_and_check_nothing_left
from url_probe import FORBIDDEN, MISMATCH, ProbeFunction, probe_function, sigv4_headers

from embedded_localstack.control.lifecycle import EmbeddedSettings, start
from embedded_localstack.control.ports import free_port
from lambda_url_harness.aws import localstack_session

pytestmark = pytest.mark.embedded

REGISTERED_KEY = "AKIDREGISTERED"
REGISTERED_SECRET = "registered-secret"


@pytest.fixture(scope="module")
def strict_lambda(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    settings = EmbeddedSettings(
        port=free_port(),
        state_dir=tmp_path_factory.mktemp("strict-localstack"),
        services=("s3",),
        strict_url_policy=True,
        url_credentials={REGISTERED_KEY: REGISTERED_SECRET},
    )
    instance = start(settings)
    assert instance.owned and instance.pid is not None
    try:
        client = localstack_session(REGION).client(
            "lambda", endpoint_url=instance.endpoint, config=Config(retries={"max_attempts": 1})
        )
        yield instance.endpoint, client
    finally:
        stop_and_check_nothing_left(settings, instance.pid)


@pytest.fixture
def probe(strict_lambda) -> Iterator[ProbeFunction]:
    endpoint, client = strict_lambda
    with probe_function(endpoint, client) as function:
        yield function


def grant(probe: ProbeFunction, statement_id: str, action: str, **condition) -> None:
    probe.lambda_.add_permission(
        FunctionName=probe.name, StatementId=statement_id, Action=action, Principal="*", **condition
    )


def test_a_public_url_needs_both_statements(probe):
    url = probe.url("NONE")
    grant(probe, "FunctionURLAllowPublicAccess", "lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    answer, ran = probe.send(url)
    assert not ran
    assert (answer.status_code, answer.json()) == (403, FORBIDDEN)
    grant(probe, "FunctionURLInvokeAllowPublicAccess", "lambda:InvokeFunction", InvokedViaFunctionUrl=True)
    answer, ran = probe.send(url)
    assert answer.status_code == 200, answer.text
    assert ran


def test_an_invoke_statement_with_another_condition_does_not_open_the_url(probe):
    url = probe.url("NONE")
    grant(probe, "Public", "lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    grant(probe, "FromOneAccount", "lambda:InvokeFunction", SourceAccount="123456789012")
    answer, ran = probe.send(url)
    assert not ran
    assert answer.status_code == 403


def test_a_registered_key_signs_with_its_secret(probe):
    url = probe.url("AWS_IAM")  # the own account: no statement needed, IAM is not enforced
    registered = sigv4_headers("GET", url, key=REGISTERED_KEY, secret=REGISTERED_SECRET)
    answer, ran = probe.send(url, headers=registered)
    assert ran, answer.text
    conventional = sigv4_headers("GET", url, key=REGISTERED_KEY, secret="test")
    answer, ran = probe.send(url, headers=conventional)
    assert not ran
    assert (answer.status_code, answer.json()) == (403, {"message": MISMATCH})
