"""The embedded Python runtime answers like AWS's: runtime packages (boto3), error shapes, logs, robustness.

Each case states what AWS Lambda does (docs/embedded-mode.md, "Limits versus AWS") and checks ours against a real
embedded LocalStack with real function processes.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from embedded_helpers import OLD_PYTHON, REGION, invoke, log_streams
from support import alive, wait_until

from embedded_localstack.control.lifecycle import default_python
from embedded_localstack.control.processes import process_tree
from embedded_localstack.runtime import bootstrap
from embedded_localstack.runtime.bootstrap import SPARE_MARKER
from embedded_localstack.runtime_packages import packages_dir, sandbox_packages_dir

pytestmark = pytest.mark.embedded

NEEDS_PYTHON38 = pytest.mark.skipif(OLD_PYTHON is None, reason="no Python 3.8 interpreter on this host")
LOCALSTACK_PREFIX = default_python().parent.parent
BOTO3_VERSION = "1.40.40"
"""The version pinned in embedded_localstack/requirements/lambda-runtime-python3.11.in."""


def invoke_raw(aws: Any, name: str, payload: bytes) -> dict[str, Any]:
    response = aws.lambda_.invoke(FunctionName=name, Payload=payload, LogType="Tail")
    return {
        "status": response["StatusCode"],
        "function_error": response.get("FunctionError"),
        "payload": json.loads(response["Payload"].read() or b"null"),
        "request_id": response["ResponseMetadata"]["RequestId"],
        "log_tail": base64.b64decode(response.get("LogResult", "")).decode(errors="replace"),
    }


def cloudwatch_text(aws: Any, name: str, needle: str, timeout_s: float = 20) -> str:
    """All of the function's CloudWatch log text once ``needle`` arrived (fails the test if it never does)."""

    def text() -> str:
        return "".join(line for lines in log_streams(aws, name).values() for line in lines)

    assert wait_until(lambda: needle in text(), timeout_s=timeout_s), f"{needle!r} never reached CloudWatch"
    return text()


# -- runtime packages (boto3) -----------------------------------------------------------------------------------
BOTO3_CALLER = """
import boto3, botocore, sys

def lambda_handler(event, context):
    identity = boto3.client("sts").get_caller_identity()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=event["bucket"])
    s3.put_object(Bucket=event["bucket"], Key="k", Body=b"from the function")
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName=event["bucket"])["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello from the function")
    return {
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "boto3_file": boto3.__file__,
        "account": identity["Account"],
        "sys_path": sys.path,
    }
"""


def test_function_without_boto3_uses_the_runtimes_and_reaches_localstack(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": BOTO3_CALLER}, timeout=30)
    bucket = f"fidelity-{name[-12:]}"
    result = invoke(aws, name, {"bucket": bucket})
    assert result.function_error is None, result.payload
    facts = result.payload
    assert (facts["boto3"], facts["botocore"]) == (BOTO3_VERSION, BOTO3_VERSION)
    assert facts["account"] == "000000000000"
    # AWS's order: code, the layers' dirs, the runtime's packages, the runtime dir, then the standard library
    path = facts["sys_path"]
    assert path[1:3] == ["/opt/python/lib/python3.11/site-packages", "/opt/python"]
    # the packages dir as the function sees it: AWS's path in the sandbox, the host's without it
    assert path[3] in (sandbox_packages_dir("python3.11"), str(packages_dir("python3.11", LOCALSTACK_PREFIX)))
    assert facts["boto3_file"] == f"{path[3]}/boto3/__init__.py"
    assert path[4] in ("/var/runtime", str(Path(bootstrap.__file__).parent))
    # the object really is in the embedded LocalStack's S3
    credentials = {"region_name": REGION, "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    s3 = boto3.client("s3", endpoint_url=embedded.endpoint, **credentials)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"from the function"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    sqs = boto3.client("sqs", endpoint_url=embedded.endpoint, **credentials)
    queue = sqs.get_queue_url(QueueName=bucket)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert [message["Body"] for message in messages] == ["hello from the function"]
    sqs.delete_queue(QueueUrl=queue)


def test_bundled_boto3_wins_over_the_runtimes(aws, deploy_function):
    files = {
        "lambda_function.py": "import boto3, os\ndef lambda_handler(e, c):\n"
        "    return [boto3.__version__, boto3.__file__, os.environ['LAMBDA_TASK_ROOT']]\n",
        "boto3/__init__.py": "__version__ = 'bundled-0.0.1'\n",
    }
    name = deploy_function(files)
    version, location, task_root = invoke(aws, name, {}).payload
    assert version == "bundled-0.0.1"
    assert location == f"{task_root}/boto3/__init__.py"


# -- error shapes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("sys.exit(0)", "Runtime exited without providing a reason"),
        ("sys.exit(3)", "Runtime exited with error: exit status 3"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "Runtime exited with error: signal: killed"),
    ],
    ids=["exit-0", "exit-3", "sigkill"],
)
def test_runtime_exit_in_the_handler(aws, deploy_function, body, reason):
    code = f"import os, signal, sys\ndef lambda_handler(event, context):\n    {body}\n"
    name = deploy_function({"lambda_function.py": code})
    result = invoke(aws, name, {})
    assert result.function_error == "Unhandled"
    assert result.payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: {reason}",
    }
    report = rf"REPORT RequestId: {result.request_id}\t.*\tStatus: error\tError Type: Runtime.ExitError"
    assert re.search(report, result.log_tail), result.log_tail
    # the environment is replaced: the next invoke runs again
    assert invoke(aws, name, {}).payload["errorType"] == "Runtime.ExitError"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("sys.exit(0)", "Runtime exited without providing a reason"),
        ("sys.exit(2)", "Runtime exited with error: exit status 2"),
    ],
    ids=["exit-0", "exit-2"],
)
def test_runtime_exit_during_init_is_an_invoke_error_not_a_service_error(aws, deploy_function, body, reason):
    code = f"import sys\nprint('init ran')\n{body}\ndef lambda_handler(event, context):\n    return 1\n"
    name = deploy_function({"lambda_function.py": code})
    first = invoke_raw(aws, name, b"{}")
    assert first["status"] == 200
    assert first["function_error"] == "Unhandled"
    assert first["payload"] == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {first['request_id']} Error: {reason}",
    }
    assert "init ran" in first["log_tail"]
    assert "INIT_REPORT Init Duration:" in first["log_tail"]
    assert "Status: error\tError Type: Runtime.ExitError" in first["log_tail"]
    # each invoke tries the init again, as AWS does
    second = invoke_raw(aws, name, b"{}")
    assert second["status"] == 200 and second["payload"]["errorType"] == "Runtime.ExitError"


def test_payload_that_is_not_json_fails_before_the_handler(aws, deploy_function):
    code = "def lambda_handler(event, context):\n    print('handler called')\n    return event\n"
    name = deploy_function({"lambda_function.py": code})
    result = invoke_raw(aws, name, b"this is { not json")
    if result["status"] != 200 or result["function_error"] is None:
        pytest.fail(f"LocalStack did not pass the payload to the runtime: {result}")
    assert result["payload"]["errorType"] == "Runtime.UnmarshalError"
    assert result["payload"]["errorMessage"].startswith("Unable to unmarshal input: Expecting value")
    assert result["payload"]["stackTrace"] == []
    assert "handler called" not in result["log_tail"]


@pytest.mark.parametrize(
    ("files", "error_type", "user_frame"),
    [
        ({"lambda_function.py": "def lambda_handler(e, c):\n    raise KeyError('k')\n"}, "KeyError", "lambda_handler"),
        (
            {"lambda_function.py": "import helper\ndef lambda_handler(e, c):\n    return 1\n", "helper.py": "1 / 0\n"},
            "ZeroDivisionError",
            "<module>",
        ),
    ],
    ids=["handler-error", "init-error"],
)
def test_stack_traces_start_in_user_code(aws, deploy_function, files, error_type, user_frame):
    name = deploy_function(files)
    result = invoke(aws, name, {})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == error_type
    stack = result.payload["stackTrace"]
    assert stack and any(user_frame in frame for frame in stack), stack
    assert not any("bootstrap.py" in frame for frame in stack), stack
    assert "bootstrap.py" not in result.log_tail


@pytest.mark.parametrize(
    ("runtime", "has_request_id"),
    [pytest.param("python3.8", False, marks=NEEDS_PYTHON38), ("python3.11", True)],
)
def test_error_payload_request_id_per_runtime(aws, deploy_function, runtime, has_request_id):
    code = "def lambda_handler(e, c):\n    raise ValueError('x')\n"
    name = deploy_function({"lambda_function.py": code}, runtime=runtime)
    result = invoke(aws, name, {})
    assert result.payload["errorType"] == "ValueError"
    assert list(result.payload) == (
        ["errorMessage", "errorType", "requestId", "stackTrace"]
        if has_request_id
        else ["errorMessage", "errorType", "stackTrace"]
    )
    if has_request_id:
        assert result.payload["requestId"] == result.request_id


# -- logs -------------------------------------------------------------------------------------------------------
def test_init_output_reaches_the_first_invokes_logs_and_cloudwatch(aws, deploy_function):
    code = "print('printed at import')\ndef lambda_handler(e, c):\n    print('printed by the handler')\n"
    name = deploy_function({"lambda_function.py": code})
    first, second = invoke(aws, name, {}), invoke(aws, name, {})
    assert first.log_tail.index("printed at import") < first.log_tail.index("START RequestId:")
    assert "printed at import" not in second.log_tail  # a warm invoke has no init
    text = cloudwatch_text(aws, name, f"REPORT RequestId: {second.request_id}")
    assert text.count("printed at import") == 1
    assert text.index("printed at import") < text.index(f"START RequestId: {first.request_id}")


def test_one_line_per_logging_record(aws, deploy_function):
    code = (
        "import logging\nlogging.getLogger().setLevel(logging.INFO)\n"
        "def lambda_handler(e, c):\n    logging.info('first')\n    logging.warning('second')\n"
    )
    name = deploy_function({"lambda_function.py": code})
    result = invoke(aws, name, {})
    lines = result.log_tail.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("START"))
    assert re.fullmatch(rf"\[INFO\]\t\S+Z\t{result.request_id}\tfirst", lines[start + 1]), lines
    assert re.fullmatch(rf"\[WARNING\]\t\S+Z\t{result.request_id}\tsecond", lines[start + 2]), lines
    assert lines[start + 3].startswith("END RequestId:"), lines
    assert "" not in lines


def test_init_error_creates_a_log_stream_with_the_error(aws, deploy_function):
    name = deploy_function({"lambda_function.py": "import not_installed_anywhere\n"})
    result = invoke(aws, name, {})
    assert result.payload["errorType"] == "Runtime.ImportModuleError"
    text = cloudwatch_text(aws, name, f"REPORT RequestId: {result.request_id}")
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module 'lambda_function'" in text
    assert "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError" in text


def test_timeout_report_shows_the_memory_really_used(aws, deploy_function):
    code = (
        "import time\n"
        "def lambda_handler(e, c):\n"
        "    block = bytearray(80 * 1024 * 1024)\n"
        "    block[::4096] = b'x' * len(block[::4096])\n"
        "    time.sleep(30)\n"
    )
    name = deploy_function({"lambda_function.py": code}, timeout=2, memory_size=256)
    result = invoke(aws, name, {})
    assert result.payload["errorType"] == "Sandbox.Timedout"
    used = re.search(r"Max Memory Used: (\d+) MB", result.log_tail)
    assert used and int(used.group(1)) >= 80, result.log_tail
    assert "Status: timeout" in result.log_tail


# -- robustness -------------------------------------------------------------------------------------------------
def test_deleting_a_function_during_an_async_invoke_logs_no_localstack_error(aws, deploy_function, embedded):
    code = "import time\ndef lambda_handler(e, c):\n    print('started', flush=True)\n    time.sleep(3)\n"
    name = deploy_function({"lambda_function.py": code})
    log_file = embedded.settings.log_file
    offset = log_file.stat().st_size
    aws.lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    started = wait_until(lambda: function_printed(embedded, name, "started"), timeout_s=20)
    assert started, "the async invoke never started"
    aws.lambda_.delete_function(FunctionName=name)
    time.sleep(5)  # the in-flight invoke ends (its process was killed) and LocalStack handles its result
    with log_file.open("rb") as handle:
        handle.seek(offset)
        new_log = handle.read().decode(errors="replace")
    assert "FileNotFoundError" not in new_log, new_log[-3000:]
    assert "Traceback" not in new_log, new_log[-3000:]


def function_printed(embedded, name: str, text: str) -> bool:
    """The running function printed ``text``: the executor pumps its output into the environment's log file (named
    after the function) while the invoke runs."""
    logs = Path(embedded.settings.state_dir) / "tmp" / "embedded-lambda-logs"
    return any(text in log.read_text(errors="replace") for log in logs.glob(f"{name}-*.log"))


def spare_pids(localstack_pid: int) -> dict[int, str]:
    """Spare runtime processes below LocalStack: pid -> interpreter."""
    found = {}
    for pid in process_tree(localstack_pid):
        try:
            if f"{SPARE_MARKER}=1".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found[pid] = Path(f"/proc/{pid}/exe").resolve().name
        except OSError:
            continue
    return found


@NEEDS_PYTHON38
def test_no_spare_process_for_interpreters_that_cannot_adopt(aws, deploy_function, embedded):
    log_file = embedded.settings.log_file
    offset = log_file.stat().st_size
    code = "import sys\ndef lambda_handler(e, c):\n    return list(sys.version_info[:2])\n"
    for _ in range(2):  # the second function's cold start would take the first one's spare
        name = deploy_function({"lambda_function.py": code}, runtime="python3.8")
        assert invoke(aws, name, {}).payload == [3, 8]
    assert embedded.pid is not None
    assert not any(exe.startswith("python3.8") for exe in spare_pids(embedded.pid).values())
    with log_file.open("rb") as handle:
        handle.seek(offset)
        assert b"had exited" not in handle.read()
    # interpreters that can adopt keep their spare
    name = deploy_function({"lambda_function.py": code}, runtime="python3.11")
    assert invoke(aws, name, {}).payload == [3, 11]
    assert wait_until(lambda: any(e.startswith("python3.11") for e in spare_pids(embedded.pid).values()), timeout_s=10)
    assert all(alive(pid) for pid in spare_pids(embedded.pid))


# -- AWS_LAMBDA_EXEC_WRAPPER ------------------------------------------------------------------------------------
WRAPPED_HANDLER = """
import os, sys

def lambda_handler(event, context):
    return {
        "wrapped_by": os.environ.get("WRAPPED_BY"),
        "xoptions": sys._xoptions,
        "wrapper": os.environ.get("AWS_LAMBDA_EXEC_WRAPPER"),
        "internal": sorted(name for name in os.environ if name.startswith("_EMBEDDED_LAMBDA")),
    }
"""
EXPORTING_WRAPPER = '#!/bin/sh\necho "wrapper args: $*" >&2\nexport WRAPPED_BY=wrapper\nexec "$@"\n'
# AWS's documented example: insert interpreter options before the last argument (the runtime's script).
OPTION_WRAPPER = """#!/bin/bash
args=("$@")
extra_args=("-X" "wrapped=yes")
args=("${args[@]:0:$#-1}" "${extra_args[@]}" "${args[@]: -1}")
exec "${args[@]}"
"""


def zip_with_modes(files: dict[str, tuple[str, int]]) -> bytes:
    """A deployment zip whose entries carry Unix modes (an exec wrapper must be executable, as on AWS)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (source, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, source)
    return buffer.getvalue()


def deploy_wrapped(deploy_function: Any, wrapper_source: str | None, mode: int = 0o755, path: str = "") -> str:
    files = {"lambda_function.py": (WRAPPED_HANDLER, 0o644)}
    if wrapper_source is not None:
        files["wrapper.sh"] = (wrapper_source, mode)
    environment = {"AWS_LAMBDA_EXEC_WRAPPER": path or "/var/task/wrapper.sh"}
    return deploy_function({}, environment=environment, zip_file=zip_with_modes(files))


def test_exec_wrapper_runs_the_runtime_command(aws, deploy_function):
    name = deploy_wrapped(deploy_function, EXPORTING_WRAPPER)
    first, second = invoke(aws, name, {}), invoke(aws, name, {})
    assert first.function_error is None, first.payload
    assert first.payload["wrapped_by"] == "wrapper"
    assert first.payload["wrapper"] == "/var/task/wrapper.sh"
    assert first.payload["internal"] == []  # our channel variables never reach the function
    args = re.search(r"wrapper args: (.*)", first.log_tail)
    assert args, first.log_tail
    command = args.group(1).split()
    assert Path(command[0]).name == "python3.11"
    assert command[-1].endswith("/bootstrap.py")  # AWS's shape: the runtime's script comes last
    assert second.payload["wrapped_by"] == "wrapper"  # the warm environment stays wrapped


def test_exec_wrapper_can_add_interpreter_options_as_in_awss_example(aws, deploy_function):
    name = deploy_wrapped(deploy_function, OPTION_WRAPPER)
    result = invoke(aws, name, {})
    assert result.function_error is None, result.payload
    assert result.payload["xoptions"] == {"wrapped": "yes"}


@pytest.mark.parametrize(
    ("wrapper_source", "mode", "path", "error_type", "reason"),
    [
        (None, 0o755, "/var/task/missing.sh", "Runtime.InvalidEntrypoint",
         "fork/exec /var/task/missing.sh: no such file or directory"),
        (EXPORTING_WRAPPER, 0o644, "", "Runtime.InvalidEntrypoint",
         "fork/exec /var/task/wrapper.sh: permission denied"),
        ("#!/bin/sh\necho giving up >&2\nexit 1\n", 0o755, "", "Runtime.ExitError",
         "Runtime exited with error: exit status 1"),
    ],
    ids=["missing", "not-executable", "exits-without-exec"],
)  # fmt: skip
def test_broken_exec_wrapper_fails_as_on_aws(aws, deploy_function, wrapper_source, mode, path, error_type, reason):
    name = deploy_wrapped(deploy_function, wrapper_source, mode, path)
    result = invoke(aws, name, {})
    assert result.function_error == "Unhandled"
    message = f"RequestId: {result.request_id} Error: {reason}"
    assert result.payload == {"errorType": error_type, "errorMessage": message}
    assert f"Status: error\tError Type: {error_type}" in result.log_tail
