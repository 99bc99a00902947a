"""LocalStack's memory is bounded by the limits it promises (AWS's), never by what a caller declares or sends.

Real embedded LocalStack, real hostile archives and functions. Each test measures the peak resident memory of the
LocalStack process (the kernel's VmHWM, reset before the attack) against MAX_PEAK_GROWTH_MB. Before these bounds:
a 200 KiB zip whose symlink entry "inflates" made LocalStack allocate ~1.8 GiB before refusing it, a 96 MiB
init-error frame was read whole and returned as the invoke's answer, one invoke printing 64 MiB grew LocalStack by
~500 MiB and the environment's log file only ever grew.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from embedded_helpers import (
    MAX_PEAK_GROWTH_MB,
    REGION,
    ROLE_ARN,
    invoke,
    log_streams,
    peak_memory_growth_mb,
    reset_peak_memory,
)
from support import build_zip, wait_until, zip_entry

from embedded_localstack.service.code_unpacking import MAX_ENTRIES

pytestmark = pytest.mark.embedded

REFUSED = "Could not unzip uploaded file. Please check your file, then try to upload again."
TOO_LARGE = "Unzipped size must be smaller than 262144000 bytes"
RESPONSE_TOO_LARGE = "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
READ_THROUGH = "def lambda_handler(event, context):\n    return open(event['path']).read()\n"


def _refused(deploy_function, archive: bytes) -> dict[str, str]:
    with pytest.raises(ClientError) as refused:
        deploy_function({}, zip_file=archive)
    return refused.value.response["Error"]


# -- archives ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inflated_mb", "message"),
    [(300, TOO_LARGE), (200, REFUSED)],  # over AWS's unzipped limit; under it, but no symlink target is that long
)
def test_a_symlink_entry_that_inflates_is_refused_unread(aws, deploy_function, embedded, inflated_mb, message):
    archive = build_zip({"lambda_function.py": READ_THROUGH}, links={"link": b"a" * (inflated_mb << 20)})
    assert len(archive) < 400 * 1024, "the attack is a small upload"
    deploy_function({"lambda_function.py": READ_THROUGH})  # warm: every code path of a create has run once
    since = reset_peak_memory(embedded.pid)
    error = _refused(deploy_function, archive)
    assert (error["Code"], error["Message"]) == ("InvalidParameterValueException", message)
    assert peak_memory_growth_mb(embedded.pid, since) < MAX_PEAK_GROWTH_MB


def _many_entries(count: int, declared: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zip_entry("lambda_function.py"), READ_THROUGH)
        for index in range(count):
            archive.writestr(zipfile.ZipInfo(f"{index:x}"), b"")
    data = bytearray(buffer.getvalue())
    if declared is not None:  # the end record lies about the count; zipfile reads what the directory holds
        end = data.rfind(b"PK\x05\x06")
        data[end + 8 : end + 12] = declared.to_bytes(2, "little") * 2
    return bytes(data)


@pytest.mark.parametrize("declared", [None, 1], ids=["honest", "lying-end-record"])
def test_an_archive_of_too_many_entries_is_refused_before_it_is_parsed(aws, deploy_function, embedded, declared):
    archive = _many_entries(MAX_ENTRIES + 5_000, declared)
    deploy_function({"lambda_function.py": READ_THROUGH})
    since = reset_peak_memory(embedded.pid)
    error = _refused(deploy_function, archive)
    assert error["Code"] == "InvalidParameterValueException"
    assert f"at most {MAX_ENTRIES} entries" in error["Message"]
    assert peak_memory_growth_mb(embedded.pid, since) < MAX_PEAK_GROWTH_MB


def test_an_archive_at_the_entry_limit_still_works(aws, deploy_function):
    name = deploy_function({}, zip_file=_many_entries(MAX_ENTRIES - 1))
    assert invoke(aws, name, {"path": "lambda_function.py"}).payload == READ_THROUGH


def test_code_in_s3_over_the_unzipped_limit_is_refused_before_it_is_read(aws, embedded, tmp_path):
    s3 = boto3.client("s3", endpoint_url=embedded.endpoint, region_name=REGION,
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    bucket, name = f"code-{uuid.uuid4().hex[:8]}", f"embedded-test-s3-{uuid.uuid4().hex[:8]}"
    big = tmp_path / "big.zip"
    with big.open("wb") as sparse:
        sparse.truncate(260 << 20)  # over AWS's 250 MB: LocalStack read such an object into memory whole
    s3.create_bucket(Bucket=bucket)

    def create_from(key: str) -> None:
        aws.lambda_.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE_ARN,
                                    Handler="lambda_function.lambda_handler",
                                    Code={"S3Bucket": bucket, "S3Key": key})  # fmt: skip

    try:
        s3.put_object(Bucket=bucket, Key="small.zip", Body=build_zip({"lambda_function.py": READ_THROUGH}))
        create_from("small.zip")  # warm: LocalStack's own S3 client exists from now on
        aws.lambda_.delete_function(FunctionName=name)
        s3.upload_file(str(big), bucket, "big.zip")
        since = reset_peak_memory(embedded.pid)
        with pytest.raises(ClientError) as refused:
            create_from("big.zip")
        assert peak_memory_growth_mb(embedded.pid, since) < MAX_PEAK_GROWTH_MB
        assert refused.value.response["Error"] == {"Code": "InvalidParameterValueException", "Message": TOO_LARGE}
    finally:
        for key in ("small.zip", "big.zip"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


def test_a_symlink_chain_is_resolved_as_the_kernel_resolves_it(aws, deploy_function):
    # Lexically "d/up/../.." is ".", but d/up -> .. is the code dir itself, so esc is its parent: outside.
    escaping = build_zip({"lambda_function.py": READ_THROUGH, "d/keep": ""}, links={"d/up": "..", "esc": "d/up/../.."})
    assert _refused(deploy_function, escaping) == {"Code": "InvalidParameterValueException", "Message": REFUSED}
    looping = build_zip({"lambda_function.py": READ_THROUGH}, links={"a": "b/x", "b": "a"})
    assert _refused(deploy_function, looping)["Message"] == REFUSED
    # The same links resolving inside are kept, as AWS keeps them.
    inside = build_zip(
        {"lambda_function.py": READ_THROUGH, "d/keep": "", "real.txt": "hi"},
        links={"d/up": "..", "ok": "d/up/real.txt", "d/again": "up/d/up/real.txt"},
    )
    name = deploy_function({}, zip_file=inside)
    assert invoke(aws, name, {"path": "ok"}).payload == "hi"
    assert invoke(aws, name, {"path": "d/again"}).payload == "hi"


# -- frames from the runtime ---------------------------------------------------------------------------------
SEND_AT_INIT = """
import os, socket, sys
from bootstrap import encode_frame  # the runtime's frame format (/var/runtime is on sys.path)
channel = socket.socket(fileno=os.dup(int(sys.argv[1])))
channel.sendall(encode_frame({kind!r}, "", b"x" * ({mb} << 20)))
os._exit(1)

def lambda_handler(event, context):
    return "never"
"""


def test_an_init_error_over_six_megabytes_is_dropped_unread(aws, deploy_function, embedded):
    # 512 MB: building the 96 MB frame takes ~200 MB of the function's memory (over 128 MB it is killed, as on AWS).
    name = deploy_function({"lambda_function.py": SEND_AT_INIT.format(kind=b"E", mb=96)}, memory_size=512)
    invoke(aws, deploy_function({"lambda_function.py": "def lambda_handler(e, c):\n    return 1\n"}), {})
    since = reset_peak_memory(embedded.pid)
    result = invoke(aws, name, {})
    # The init's error is what the invoke answers (AWS: HTTP 200, FunctionError): AWS's response limit applies.
    assert result.function_error == "Unhandled"
    assert result.payload == {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": RESPONSE_TOO_LARGE}
    assert "Error Type: Function.ResponseSizeTooLarge" in result.log_tail
    assert peak_memory_growth_mb(embedded.pid, since) < MAX_PEAK_GROWTH_MB


def test_a_ready_frame_with_a_body_ends_the_environment_unread(aws, deploy_function, embedded):
    code = SEND_AT_INIT.format(kind=b"R", mb=96)
    name = deploy_function({"lambda_function.py": code}, memory_size=512, wait_active=False)
    aws.lambda_.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    since = reset_peak_memory(embedded.pid)
    with pytest.raises(ClientError):  # the environment never starts: LocalStack answers with a service error
        aws.lambda_.invoke(FunctionName=name, Payload=b"{}")
    assert peak_memory_growth_mb(embedded.pid, since) < MAX_PEAK_GROWTH_MB


# -- output ------------------------------------------------------------------------------------------------------
PRINTER = """
import sys
def lambda_handler(event, context):
    line = "x" * (event["line"] - 1) + "\\n"
    for _ in range(event["lines"]):
        sys.stdout.write(line)
    return "done"
"""


def _environment_logs(embedded, name: str) -> list[Path]:
    return list((Path(embedded.settings.state_dir) / "tmp" / "embedded-lambda-logs").glob(f"{name}-*.log"))


def test_output_is_capped_per_invocation_and_the_log_file_emptied(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": PRINTER}, timeout=120)
    assert invoke(aws, name, {"line": 1024, "lines": 512}).payload == "done"  # warm, 512 KiB: all of it kept
    since = reset_peak_memory(embedded.pid)
    result = invoke(aws, name, {"line": 1024, "lines": 64 * 1024})  # 64 MiB in one invoke
    growth = peak_memory_growth_mb(embedded.pid, since)
    assert result.payload == "done", "the function never blocks on its own output"
    assert "bytes of output dropped: over the 1048576 bytes kept per invocation" in result.log_tail
    assert f"END RequestId: {result.request_id}" in result.log_tail
    assert growth < MAX_PEAK_GROWTH_MB
    # Old content is dropped: once an invocation's logs are taken, the environment's file is empty again.
    assert all(log.stat().st_size == 0 for log in _environment_logs(embedded, name))

    def invocation_events() -> list[str]:
        for events in log_streams(aws, name).values():
            if any(result.request_id in event and event.startswith("REPORT") for event in events):
                start = next(i for i, e in enumerate(events) if e.startswith(f"START RequestId: {result.request_id}"))
                return events[start:]
        return []

    assert wait_until(lambda: bool(invocation_events()), timeout_s=15), "the invocation's logs never arrived"
    events = invocation_events()
    kept = [event for event in events if event.startswith("x")]
    # One PutLogEvents batch's worth: message bytes plus 26 per event.
    assert sum(len(event) + 26 for event in kept) <= 1_048_576
    assert len(kept) > 900, "the first MiB is kept"


def test_a_line_longer_than_a_cloudwatch_event_is_split_as_lambda_splits_it(aws, deploy_function):
    name = deploy_function({"lambda_function.py": PRINTER})
    result = invoke(aws, name, {"line": 600_000, "lines": 1})

    def pieces() -> list[int]:
        events = [event for events in log_streams(aws, name).values() for event in events]
        return [len(event) for event in events if event.startswith("x")]

    assert wait_until(lambda: len(pieces()) == 3, timeout_s=15), pieces()
    # 256 KB per event, 26 bytes of it CloudWatch's overhead: 262118 bytes of the line each (plus its newline).
    assert pieces() == [262_119, 262_119, 600_000 - 2 * 262_118]
    assert result.payload == "done"
