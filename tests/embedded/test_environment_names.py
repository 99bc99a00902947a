"""Function variable names are refused as AWS refuses them, on CreateFunction and UpdateFunctionConfiguration.

Real embedded LocalStack, real API calls (boto3). AWS's request validation refuses a name outside the API model's
pattern ``[a-zA-Z]([a-zA-Z0-9_])+`` with ``ValidationException``; Lambda refuses its reserved keys with
``InvalidParameterValueException``. LocalStack 4.9.2 accepted both (e.g. ``BASH_FUNC_echo%%``, which a bash on the
host reads as a function definition).
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from embedded_helpers import ROLE_ARN, invoke
from support import build_zip

from embedded_localstack.service.patches.environment_variables import NAME_MESSAGE

pytestmark = pytest.mark.embedded

HANDLER = {"lambda_function.py": "import os\ndef lambda_handler(event, context):\n    return os.environ.get('KEPT')\n"}
BAD_NAMES = ["BASH_FUNC_echo%%", "BASH_FUNC_x()", "A", "1A", "_X", "with-dash", "dot.ted", "sp ace", "Ünï", "A=B"]
RESERVED = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
]
RESERVED_PREFIX = (
    "Lambda was unable to configure your environment variables because the environment variables you have "
    "provided contains reserved keys that are currently not supported for modification. "
    "Reserved keys used in this request: "
)


def _refusal(call) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_outside_aws_pattern_are_refused_on_create(aws, deploy_function, name):
    create = lambda: deploy_function(HANDLER, environment={"KEPT": "1", name: "() { id; }"}, wait_active=False)  # noqa: E731
    assert _refusal(create) == ("ValidationException", NAME_MESSAGE, 400)


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_keys_are_refused_on_create(aws, deploy_function, name):
    code, message, status = _refusal(lambda: deploy_function(HANDLER, environment={name: "x"}, wait_active=False))
    if name.startswith("_"):  # outside the pattern too: AWS's request validation answers first
        assert (code, message, status) == ("ValidationException", NAME_MESSAGE, 400)
    else:
        assert (code, message, status) == ("InvalidParameterValueException", RESERVED_PREFIX + name, 400)


def test_every_reserved_key_of_a_request_is_named_in_its_order(aws, deploy_function):
    variables = {"AWS_REGION": "x", "KEPT": "1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    code, message, _ = _refusal(lambda: deploy_function(HANDLER, environment=variables, wait_active=False))
    assert code == "InvalidParameterValueException"
    assert message == RESERVED_PREFIX + "AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"


def test_a_refused_create_leaves_no_function(aws):
    name = f"embedded-test-refused-{uuid.uuid4().hex[:8]}"
    create = lambda: aws.lambda_.create_function(  # noqa: E731
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE_ARN,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": build_zip(HANDLER)},
        Environment={"Variables": {"BASH_FUNC_echo%%": "() { id; }"}},
    )
    assert _refusal(create)[0] == "ValidationException"
    with pytest.raises(aws.lambda_.exceptions.ResourceNotFoundException):
        aws.lambda_.get_function(FunctionName=name)


@pytest.mark.parametrize(
    ("variables", "expected_code"),
    [
        ({"BASH_FUNC_echo%%": "() { id; }"}, "ValidationException"),
        ({"A": "1"}, "ValidationException"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "other"}, "InvalidParameterValueException"),
        ({"LAMBDA_TASK_ROOT": "/"}, "InvalidParameterValueException"),
    ],
)
def test_update_function_configuration_refuses_them_and_keeps_the_old_variables(
    aws, deploy_function, variables, expected_code
):
    name = deploy_function(HANDLER, environment={"KEPT": "before"})
    update = lambda: aws.lambda_.update_function_configuration(  # noqa: E731
        FunctionName=name, Environment={"Variables": {"KEPT": "after", **variables}}
    )
    code, message, _ = _refusal(update)
    assert code == expected_code
    assert (message == NAME_MESSAGE) is (expected_code == "ValidationException")
    configuration = aws.lambda_.get_function_configuration(FunctionName=name)
    assert configuration["Environment"]["Variables"] == {"KEPT": "before"}
    assert invoke(aws, name, {}).payload == "before"


def test_names_aws_accepts_still_work(aws, deploy_function):
    variables = {"Ab": "1", "a1": "2", "A_": "3", "LANG": "C.UTF-8", "TZ": ":UTC", "PATH": "/usr/bin:/bin", "KEPT": "k"}
    name = deploy_function(HANDLER, environment=variables)
    assert invoke(aws, name, {}).payload == "k"
    aws.lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": {"KEPT": "updated"}})
    aws.lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert invoke(aws, name, {}).payload == "updated"
