"""Which runtimes the embedded LocalStack's API accepts (service/patches/new_runtimes.py), against AWS's answers."""

from __future__ import annotations

import pytest
from embedded_helpers import MISSING_PYTHON
from support import build_zip

pytestmark = pytest.mark.embedded

NODE_CODE = {"index.js": "exports.handler = async () => 1;\n"}
PYTHON_CODE = {"lambda_function.py": "def lambda_handler(event, context):\n    return 1\n"}


def test_runtimes_aws_added_after_localstack_4_9_2_are_accepted(aws, deploy_function):
    name = deploy_function(NODE_CODE, runtime="nodejs24.x", handler="index.handler", wait_active=False)
    assert aws.lambda_.get_function(FunctionName=name)["Configuration"]["Runtime"] == "nodejs24.x"


def test_an_unknown_runtime_gets_awss_enum_error_listing_the_new_ones(aws, deploy_function):
    with pytest.raises(aws.lambda_.exceptions.InvalidParameterValueException) as raised:
        deploy_function(NODE_CODE, runtime="nodejs99.x", handler="index.handler", wait_active=False)
    message = raised.value.response["Error"]["Message"]
    assert message.startswith("Value nodejs99.x at 'runtime' failed to satisfy constraint: Member must satisfy enum")
    assert ", nodejs24.x" in message and ", python3.14" in message


@pytest.mark.parametrize(
    ("runtime", "setting"),
    [("python3.12", "EMBEDDED_LAMBDA_PYTHON3_12"), ("python3.14", "EMBEDDED_LAMBDA_PYTHON3_14")],
    ids=["interpreter-missing-where-set", "no-interpreter-on-the-host"],
)
def test_a_python_runtime_without_interpreter_is_refused_naming_the_setting(aws, deploy_function, runtime, setting):
    """The session's LocalStack is told python3.12 lives at MISSING_PYTHON; no python3.14 is installed here."""
    with pytest.raises(aws.lambda_.exceptions.InvalidParameterValueException) as raised:
        deploy_function(PYTHON_CODE, runtime=runtime, wait_active=False)
    message = raised.value.response["Error"]["Message"]
    assert message.startswith(
        f"The runtime parameter of {runtime} is not supported for creating or updating AWS Lambda"
    )
    assert setting in message
    if runtime == "python3.12":
        assert MISSING_PYTHON in message


def test_updating_to_a_runtime_without_interpreter_is_refused_and_the_function_keeps_its_own(aws, deploy_function):
    name = deploy_function(PYTHON_CODE)
    with pytest.raises(aws.lambda_.exceptions.InvalidParameterValueException, match="EMBEDDED_LAMBDA_PYTHON3_14"):
        aws.lambda_.update_function_configuration(FunctionName=name, Runtime="python3.14")
    assert aws.lambda_.get_function(FunctionName=name)["Configuration"]["Runtime"] == "python3.11"
    aws.lambda_.update_function_configuration(FunctionName=name, Timeout=20)  # other updates still work
    assert aws.lambda_.get_function(FunctionName=name)["Configuration"]["Timeout"] == 20


def test_layers_accept_the_new_runtimes(aws):
    layer = aws.lambda_.publish_layer_version(
        LayerName="new-runtimes", Content={"ZipFile": build_zip({"nodejs/x.js": ""})},
        CompatibleRuntimes=["nodejs24.x", "python3.14"],
    )  # fmt: skip
    assert layer["CompatibleRuntimes"] == ["nodejs24.x", "python3.14"]
