"""A function cannot reach LocalStack's internal endpoints; its SDK calls through AWS_ENDPOINT_URL keep working.

Real embedded LocalStack, real hostile functions sending raw HTTP to the endpoint they are given. On AWS a function
cannot stop the Lambda service; LocalStack 4.9.2 serves its control plane on the same port as the AWS APIs, so a
function could ``POST /_localstack/health {"action": "kill"}`` and stop it. Functions now reach a listener of
their own that refuses every path whose first segment starts with ``_``; the main port keeps serving everything.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from embedded_helpers import create_function, invoke, lambda_client
from support import wait_until

from embedded_localstack.control.lifecycle import EmbeddedSettings, running_pid, start, stop
from embedded_localstack.control.ports import free_port
from embedded_localstack.service.patches.function_gateway import REFUSED_MESSAGE

pytestmark = pytest.mark.embedded

PROBE = """
import http.client, json, os
from urllib.parse import urlsplit

def lambda_handler(event, context):
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    answers = []
    for method, target, body in event["requests"]:
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
        try:
            # The request target exactly as given (http.client sends it unchanged).
            connection.request(method, target, body=json.dumps(body) if body is not None else None,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answers.append([response.status, response.read(300).decode(errors="replace")])
        except OSError as error:
            answers.append([None, repr(error)])
        finally:
            connection.close()
    return {"answers": answers, "endpoint": os.environ["AWS_ENDPOINT_URL"], "edge_port": os.environ["EDGE_PORT"]}
"""

INTERNAL = [
    ("GET", "/_localstack/health", None),
    ("HEAD", "/_localstack/health", None),
    ("PUT", "/_localstack/health", {"features:initScripts": "done"}),
    ("GET", "/_localstack/info", None),
    ("GET", "/_localstack/plugins", None),
    ("GET", "/_localstack/init", None),
    ("GET", "/_localstack/init/ready", None),
    ("POST", "/_localstack/config", {"variable": "DEBUG", "value": "1"}),
    ("GET", "/_localstack/diagnose", None),
    ("GET", "/_aws/lambda/runtimes", None),
    ("GET", "/_aws/lambda/init", None),
    ("GET", "/_aws/sqs/messages", None),
    ("GET", "/_aws/ses", None),
    ("GET", "/_aws/sns/sms-messages", None),
    ("GET", "/_aws/sns/platform-endpoint-messages", None),
    ("GET", "/_aws/cloudwatch/metrics/raw", None),
    ("DELETE", "/_aws/dynamodb/expired", None),
    ("GET", "/_aws/events/rules/arn:aws:events:us-east-1:000000000000:rule/x/trigger", None),
    ("POST", "/_localstack_lambda/some-environment/invocations/some-request/response", {"stolen": True}),
    # the same endpoints, spelt the ways LocalStack's router still finds them
    ("GET", "//_localstack/health", None),
    ("GET", "/_localstack/health/", None),
    ("GET", "/_localstack/health;x", None),
    ("GET", "/_localstack/health?x=1", None),
    ("GET", "/x/../_localstack/health", None),
    ("GET", "/%5Flocalstack/health", None),
    ("GET", "http://127.0.0.1/_localstack/health", None),
    ("GET", "/_LOCALSTACK/health", None),
]


def test_internal_endpoints_are_refused_to_functions(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": PROBE})
    seen = invoke(aws, name, {"requests": INTERNAL}).payload
    for (method, target, _), (status, body) in zip(INTERNAL, seen["answers"], strict=True):
        assert status == 403, (method, target, status, body)
        if method != "HEAD":
            assert REFUSED_MESSAGE in json.loads(body)["message"], (target, body)
    # What the function is given leads to its own listener, not to the main port.
    assert seen["endpoint"] == f"http://127.0.0.1:{seen['edge_port']}"
    assert int(seen["edge_port"]) != embedded.settings.port
    # The harness keeps the full gateway on the main port.
    assert requests.get(f"{embedded.endpoint}/_localstack/health", timeout=10).status_code == 200


SDK_CALLS = """
import boto3

def lambda_handler(event, context):
    # boto3 of the runtime, configured from the environment only (AWS_ENDPOINT_URL, region, role credentials)
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queue = sqs.create_queue(QueueName=event["name"])["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]["Body"]
    s3.create_bucket(Bucket=event["name"])
    s3.put_object(Bucket=event["name"], Key="k", Body=b"stored")
    return {
        "received": received,
        "object": s3.get_object(Bucket=event["name"], Key="k")["Body"].read().decode(),
        "account": boto3.client("sts").get_caller_identity()["Account"],
        "functions": len(boto3.client("lambda").list_functions()["Functions"]) > 0,
    }
"""


def test_sdk_calls_through_aws_endpoint_url_keep_working(aws, deploy_function):
    name = deploy_function({"lambda_function.py": SDK_CALLS}, timeout=30)
    resource = f"internal-endpoints-{uuid.uuid4().hex[:8]}"
    result = invoke(aws, name, {"name": resource})
    assert result.function_error is None, result.payload
    assert result.payload == {"received": "hello", "object": "stored", "account": "000000000000", "functions": True}


@pytest.mark.parametrize("action", ["kill", "restart"])
def test_a_function_cannot_stop_localstack(tmp_path, action):
    """On a LocalStack of its own: without the separate listener, this function stops the LocalStack it runs in."""
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDED_LAMBDA_SANDBOX", "bwrap")
        instance = start(settings)
    try:
        client = lambda_client(instance.endpoint)
        create_function(client, "stopper", {"lambda_function.py": PROBE})
        event = {"requests": [["POST", "/_localstack/health", {"action": action}]] * 2}
        answer = json.loads(client.invoke(FunctionName="stopper", Payload=json.dumps(event))["Payload"].read())
        # Still the same LocalStack, still serving, some seconds later (a kill or restart takes effect at once).
        assert not wait_until(lambda: running_pid(settings) != instance.pid, timeout_s=5), "LocalStack stopped"
        assert requests.get(f"{instance.endpoint}/_localstack/health", timeout=10).status_code == 200
        assert [status for status, _ in answer["answers"]] == [403, 403]
        assert client.invoke(FunctionName="stopper", Payload=json.dumps({"requests": []}))["StatusCode"] == 200
    finally:
        stop(settings)
