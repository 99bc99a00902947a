"""The Node.js runtime loop (runtime/nodejs/bootstrap.mjs) in real node 20/22/24 processes (the provisioned ones)
against the Runtime API server (service/runtime_api.py): module kinds, handler styles, context, errors, logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded_localstack import nodejs_sdk
from embedded_localstack.control.lifecycle import default_python
from embedded_localstack.runtime_packages import node_prefix
from embedded_localstack.service.runtime_api import Answer, Invocation, RuntimeApi, loopback_listener

pytestmark = pytest.mark.embedded

LOCALSTACK_PREFIX = default_python().parent.parent
BOOTSTRAP = Path(__file__).resolve().parents[2] / "embedded_localstack" / "runtime" / "nodejs" / "bootstrap.mjs"
MAJORS = (20, 22, 24)
ARN = "arn:aws:lambda:us-east-1:000000000000:function:node-test"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t(?P<id>[^\t]+)\t(?P<level>[A-Z]+)\t(?P<message>.*)$")


class NodeEnvironment:
    """One node process running the bootstrap for ``files`` (the task root), talking to its own Runtime API."""

    def __init__(self, tmp: Path, major: int, files: dict[str, str], handler: str) -> None:
        self.task_root = tmp / f"task-{uuid.uuid4().hex[:8]}"
        for name, content in files.items():
            (self.task_root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.task_root / name).write_text(content)
        self.api = RuntimeApi(loopback_listener())
        self.log = tmp / f"{self.task_root.name}.log"
        environment = {
            "AWS_LAMBDA_RUNTIME_API": "{}:{}".format(*self.api.address),
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "NODE_PATH": nodejs_sdk.node_path(major, str(nodejs_sdk.sdk_dir(LOCALSTACK_PREFIX) / "node_modules")),
            "AWS_LAMBDA_FUNCTION_NAME": "node-test",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/node-test",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/02/[$LATEST]abc",
            "PATH": os.defpath,
        }
        node = node_prefix(f"nodejs{major}.x", LOCALSTACK_PREFIX) / "bin" / "node"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(node), str(BOOTSTRAP)], env=environment, cwd=self.task_root, stdout=output, stderr=output
            )

    def init(self) -> Answer | bool | None:
        return self.api.wait_for_init(20)

    def invoke(self, event: object, request_id: str | None = None, **headers: str) -> Answer:
        request_id = request_id or str(uuid.uuid4())
        deadline = int(time.time() * 1000) + 30_000
        self.api.send(Invocation(request_id, json.dumps(event).encode(), deadline, ARN, "Root=1-abc", **headers))
        answer = self.api.answer(request_id, 20)
        assert answer is not None, self.output()
        return answer

    def output(self) -> str:
        return self.log.read_bytes().decode()  # not read_text(): it would turn a \r into a newline

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.api.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator:
    started: list[NodeEnvironment] = []

    def start(major: int, files: dict[str, str], handler: str = "index.handler") -> NodeEnvironment:
        environment = NodeEnvironment(tmp_path, major, files, handler)
        started.append(environment)
        return environment

    yield start
    for environment in started:
        environment.close()


def result(answer: Answer) -> object:
    assert not answer.is_error, answer
    return json.loads(answer.body)


ASYNC_CJS = "exports.handler = async (event, context) => ({ result: event.number ** 2, pid: process.pid });\n"


@pytest.mark.parametrize("major", MAJORS)
def test_an_async_commonjs_handler_answers_warm_from_one_process(node, major):
    environment = node(major, {"index.js": ASYNC_CJS})
    assert environment.init() is True, environment.output()
    first, second = result(environment.invoke({"number": 6})), result(environment.invoke({"number": 7}))
    assert first["result"] == 36 and second["result"] == 49
    assert first["pid"] == second["pid"] == environment.process.pid


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize(
    "files",
    [
        {"index.mjs": "export const handler = async (event) => ({ kind: 'mjs', n: event.n });\n"},
        {
            "package.json": '{"type": "module"}',
            "index.js": "export const handler = async (e) => ({ kind: 'esm js', n: e.n });\n",
        },
        {"index.cjs": "module.exports.handler = async (e) => ({ kind: 'cjs', n: e.n });\n"},
        {"src/app/index.mjs": "export const handler = async (e) => ({ kind: 'nested', n: e.n });\n"},
    ],
    ids=["mjs", "type-module", "cjs", "subdirectory"],
)
def test_es_and_commonjs_modules_load_as_on_aws(node, major, files):
    handler = "src/app/index.handler" if "src/app/index.mjs" in files else "index.handler"
    environment = node(major, files, handler)
    assert environment.init() is True, environment.output()
    assert result(environment.invoke({"n": 3}))["n"] == 3


@pytest.mark.parametrize("major", (20, 22))
def test_callback_handlers_and_context_methods_up_to_node_22(node, major):
    code = (
        "exports.callback = (event, context, callback) => setTimeout(() => callback(null, {via: 'callback'}), 5);\n"
        "exports.succeed = (event, context) => { context.succeed({via: 'succeed'}); };\n"
        "exports.done = (event, context) => { context.done(new Error('done failed')); };\n"
        "exports.sync = (event) => ({ignored: true});\n"
    )
    for name, expected in [("callback", {"via": "callback"}), ("succeed", {"via": "succeed"}), ("sync", None)]:
        environment = node(major, {"index.js": code}, f"index.{name}")
        assert environment.init() is True, environment.output()
        assert result(environment.invoke({})) == expected
    environment = node(major, {"index.js": code}, "index.done")
    assert environment.init() is True
    failed = environment.invoke({})
    assert failed.is_error and json.loads(failed.body)["errorMessage"] == "done failed"


def test_node_24_refuses_callback_handlers_as_aws_does(node):
    code = "exports.handler = (event, context, callback) => callback(null, 1);\n"
    environment = node(24, {"index.js": code})
    failure = environment.init()
    assert isinstance(failure, Answer) and failure.error_type == "Runtime.CallbackHandlerDeprecated"
    assert (
        "Callback-based function handlers are not supported in Node.js 24" in json.loads(failure.body)["errorMessage"]
    )
    assert environment.process.wait(10) != 0


@pytest.mark.parametrize("major", MAJORS)
def test_the_context_object(node, major):
    code = (
        "exports.handler = async (event, context) => { const {getRemainingTimeInMillis, ...rest} = context;\n"
        "  return {...rest, remaining: getRemainingTimeInMillis(), trace: process.env._X_AMZN_TRACE_ID,\n"
        "          methods: ['done', 'succeed', 'fail'].filter((m) => typeof context[m] === 'function')}; };\n"
    )
    environment = node(major, {"index.js": code})
    assert environment.init() is True
    answer = environment.invoke(
        {}, "req-ctx", client_context='{"custom": {"a": 1}}', cognito_identity='{"cognitoIdentityId": "id-1"}'
    )
    context = result(answer)
    assert context["awsRequestId"] == "req-ctx"
    assert context["invokedFunctionArn"] == ARN
    assert (context["functionName"], context["functionVersion"]) == ("node-test", "$LATEST")
    assert context["memoryLimitInMB"] == "256"  # a string, as on AWS
    assert context["logGroupName"] == "/aws/lambda/node-test"
    assert context["logStreamName"] == "2026/12/02/[$LATEST]abc"
    assert context["callbackWaitsForEmptyEventLoop"] is True
    assert context["clientContext"] == {"custom": {"a": 1}}
    assert context["identity"] == {"cognitoIdentityId": "id-1"}
    assert 25_000 < context["remaining"] <= 30_000
    assert context["trace"] == "Root=1-abc"
    assert context["methods"] == ([] if major >= 24 else ["done", "succeed", "fail"])


@pytest.mark.parametrize("major", MAJORS)
def test_a_thrown_error_has_awss_shape_and_is_logged(node, major):
    code = "exports.handler = async () => { const e = new TypeError('bad number'); throw e; };\n"
    environment = node(major, {"index.js": code})
    assert environment.init() is True
    answer = environment.invoke({}, "req-err")
    body = json.loads(answer.body)
    assert answer.is_error and set(body) == {"errorType", "errorMessage", "trace"}
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "bad number")
    assert body["trace"][0] == "TypeError: bad number" and "index.js" in body["trace"][1]
    line = next(LOG_LINE.match(x) for x in environment.output().splitlines() if "Invoke Error" in x)
    assert line["id"] == "req-err" and line["level"] == "ERROR"
    assert json.loads(line["message"].split("\t", 1)[1])["errorType"] == "TypeError"


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({"other.js": ASYNC_CJS}, "index.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'index'"),
        (
            {"index.js": ASYNC_CJS},
            "index.missing",
            "Runtime.HandlerNotFound",
            "index.missing is undefined or not exported",
        ),
        (
            {"index.js": "exports.handler = async () => {;\n"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        (
            {"index.mjs": "export const handler = async () => {;\n"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        ({"index.js": "throw new RangeError('at init');\n"}, "index.handler", "RangeError", "at init"),
        (
            {"index.js": "require('no-such-package');\n"},
            "index.handler",
            "Runtime.ImportModuleError",
            "Cannot find module 'no-such-package'",
        ),
        ({"index.js": ASYNC_CJS}, "index", "Runtime.MalformedHandlerName", "Bad handler"),
    ],
    ids=["no-module", "no-export", "cjs-syntax", "esm-syntax", "throws", "missing-dependency", "malformed"],
)
def test_init_errors_are_posted_with_awss_types(node, files, handler, error_type, message):
    environment = node(22, files, handler)
    failure = environment.init()
    assert isinstance(failure, Answer), environment.output()
    body = json.loads(failure.body)
    assert body["errorType"] == error_type
    # the API keeps Runtime.X types (the REPORT line's "Error Type"), as AWS's init does; the payload has the real one
    assert failure.error_type == (error_type if error_type.startswith("Runtime.") else "Runtime.Unknown")
    assert message in body["errorMessage"]
    assert "Uncaught Exception" in environment.output()
    assert environment.process.wait(10) != 0


@pytest.mark.parametrize("major", MAJORS)
def test_console_output_is_in_awss_format_one_line_per_call(node, major):
    code = (
        "exports.handler = async () => { console.log('hello %s', 'world'); console.warn('two\\nlines');\n"
        "  console.error({a: 1}); return 1; };\n"
    )
    environment = node(major, {"index.js": code})
    assert environment.init() is True
    environment.invoke({}, "req-log")
    lines = [LOG_LINE.match(line) for line in environment.output().rstrip("\n").split("\n")]  # \r stays inside
    assert all(lines), environment.output()
    assert [(m["id"], m["level"], m["message"]) for m in lines] == [
        ("req-log", "INFO", "hello world"),
        ("req-log", "WARN", "two\rlines"),
        ("req-log", "ERROR", "{ a: 1 }"),
    ]


@pytest.mark.parametrize("major", MAJORS)
def test_the_aws_sdk_is_there_for_require_and_import(node, major):
    code = (
        "import { S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';\n"
        "import { createRequire } from 'node:module';\n"
        "const { DynamoDBClient } = createRequire(import.meta.url)('@aws-sdk/client-dynamodb');\n"
        "export const handler = async () => ({ s3: typeof new S3Client({region: 'us-east-1'}).send,\n"
        "  command: typeof ListBucketsCommand, dynamodb: typeof DynamoDBClient });\n"
    )
    environment = node(major, {"index.mjs": code})
    assert environment.init() is True, environment.output()
    assert result(environment.invoke({})) == {"s3": "function", "command": "function", "dynamodb": "function"}


def test_an_event_that_is_not_json_is_an_unmarshal_error(node):
    environment = node(22, {"index.js": ASYNC_CJS})
    assert environment.init() is True
    environment.api.send(Invocation("req-bad", b"{not json", int(time.time() * 1000) + 30_000, ARN))
    answer = environment.api.answer("req-bad", 20)
    assert answer is not None and answer.is_error
    assert json.loads(answer.body)["errorType"] == "Runtime.UnmarshalError"
