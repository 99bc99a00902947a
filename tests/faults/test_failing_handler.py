"""The deployed function raises or times out: the URL answers 502 like AWS, the harness says why.

One deployment of the module with its handler swapped (in the private workspace copy only) for one that
raises or sleeps past ``timeout = 1`` on request. The harness's wait for a 200 gives up after two 502s
in a row (instead of 30 attempts) and quotes the function's log: the traceback or "Task timed out".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.errors import FunctionUrlError
from lambda_url_harness.square.module import wait_for_first_200

pytestmark = pytest.mark.acceptance

FAULTY_HANDLER = '''\
"""Test double of lambda_function_square: fails on request."""

import json
import time


def lambda_handler(event, context):
    request = json.loads(event.get("body") or "{}") if "requestContext" in event else event
    fault = request.get("fault")
    if fault == "raise":
        raise RuntimeError("boom: the handler failed on purpose")
    if fault == "sleep":
        time.sleep(5)  # past the function's 1 s timeout
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"ok": True})}
'''

ANSWER_BOUND_S = 30.0
"""Requests are bounded; a timed-out function answers after ~1 s."""


@pytest.fixture(scope="module")
def faulty_deployment(deploy_module: Callable[..., Deployment]) -> Deployment:
    deployment = deploy_module(variables={"function_name": "square-{suffix}", "timeout": 1}, apply=False)
    (deployment.working_dir / "lambda" / "lambda_function_square.py").write_text(FAULTY_HANDLER)
    deployment.apply()
    wait_for_first_200(deployment, {"fault": None})
    return deployment


def test_raising_handler_answers_502_and_is_reported(faulty_deployment: Deployment) -> None:
    with faulty_deployment.session() as session:
        response = session.post(faulty_deployment.function_url, json={"fault": "raise"}, timeout=ANSWER_BOUND_S)
    assert response.status_code == 502
    assert response.text == "Internal Server Error"

    with pytest.raises(FunctionUrlError) as failure:
        wait_for_first_200(faulty_deployment, {"fault": "raise"})
    message = str(failure.value)
    assert failure.value.status == 502
    assert "answered HTTP 502 2 times in a row: the function raised, timed out or crashed" in message
    assert "RuntimeError: boom: the handler failed on purpose" in message  # from the function's log


def test_timed_out_handler_answers_502_and_is_reported(faulty_deployment: Deployment) -> None:
    with faulty_deployment.session() as session:
        response = session.post(faulty_deployment.function_url, json={"fault": "sleep"}, timeout=ANSWER_BOUND_S)
    assert response.status_code == 502, response.text

    with pytest.raises(FunctionUrlError) as failure:
        wait_for_first_200(faulty_deployment, {"fault": "sleep"})
    assert failure.value.status == 502
    assert "Task timed out after 1.00 seconds" in str(failure.value)

    # The function recovers: the next good request gets a fresh environment and a 200.
    assert wait_for_first_200(faulty_deployment, {"fault": None}).json() == {"ok": True}
