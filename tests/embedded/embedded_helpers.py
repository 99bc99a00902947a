"""Helpers shared by the embedded tests (zips, process checks, invoking); fixtures live in conftest.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config
from support import alive, build_zip

from embedded_localstack.control.lifecycle import EmbeddedSettings, stop
from embedded_localstack.control.ports import port_is_free
from embedded_localstack.control.processes import group_members, process_tree

REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::000000000000:role/embedded-test-role"
SESSION_SERVICES = ("s3", "sqs")
"""Served by the session's LocalStack besides the defaults (iam, lambda, logs, sts)."""
MISSING_PYTHON = "/nonexistent/bin/python3.12"
"""The session's LocalStack is told python3.12 lives here, to test a runtime missing on the host."""
HOST_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN", "EMBEDDED_TEST_EXPORTED_SECRET")
HOST_SECRET_VALUE = "host-secret-6e1f0c"
"""Set in the environment of the process that starts the session's LocalStack (conftest.py)."""


def public_function_url(lambda_client: Any, name: str, **config: Any) -> str:
    """A Function URL with AuthType NONE and the statement AWS requires before it answers (the one the console and
    the aws provider add: ``lambda:InvokeFunctionUrl`` to ``*`` if ``lambda:FunctionUrlAuthType`` is NONE)."""
    url = lambda_client.create_function_url_config(FunctionName=name, AuthType="NONE", **config)["FunctionUrl"]
    qualifier = {"Qualifier": config["Qualifier"]} if "Qualifier" in config else {}
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
        **qualifier,
    )
    return str(url)


def find_python(version: str) -> Path | None:
    """A ``python<version>`` binary: on PATH if it runs, else one of pyenv's installed versions."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-c", ""], capture_output=True, timeout=30, check=False).returncode == 0:
        return Path(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    return candidates[-1] if candidates else None


OLD_PYTHON = find_python("3.8")
"""Python 3.8 (no ``socket.recv_fds``: never a spare), for the python3.8 runtime cases; None if not installed.
LocalStack finds it the same way (PATH, then pyenv's versions): no override variable is set."""


def processes_using_endpoint(port: int) -> set[int]:
    """Processes whose environment points at a LocalStack on ``port`` (function processes, even orphans)."""
    marker = f"LOCALSTACK_RUNTIME_ENDPOINT=http://127.0.0.1:{port}/".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _cgroup_paths(pid: int) -> list[str]:
    try:
        return [line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
    except (OSError, IndexError):
        return []


def sandboxed_processes(localstack_pid: int, environment: str = "") -> set[int]:
    """Processes in the cgroups of the LocalStack ``localstack_pid``'s environments (or of one environment).

    ``environment`` is the function's ``LOCALSTACK_RUNTIME_ID``: its environment's cgroups are ``env-<id>``.
    A sandboxed process cannot leave its cgroup (no /sys inside), so this finds setsid and double-forked
    children too.
    """
    marker = f"/embedded-lambda-{localstack_pid}/" + (f"env-{environment}" if environment else "")
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and any(marker in path for path in _cgroup_paths(int(entry.name))):
            found.add(int(entry.name))
    return {pid for pid in found if alive(pid)}


def stop_and_check_nothing_left(settings: EmbeddedSettings, pid: int) -> None:
    tree = process_tree(pid) | processes_using_endpoint(settings.port) | sandboxed_processes(pid)
    assert stop(settings) is True
    left = {p for p in tree | group_members(pid) | processes_using_endpoint(settings.port) if alive(p)}
    left |= sandboxed_processes(pid)
    assert not left, f"processes left after stop: {sorted(left)}"
    assert port_is_free(settings.host, settings.port), f"port {settings.port} still in use after stop"
    assert not settings.pid_file.exists()


@dataclass(frozen=True)
class Invocation:
    payload: Any
    function_error: str | None
    request_id: str
    log_tail: str


def invoke(aws: Any, name: str, event: Any) -> Invocation:
    response = aws.lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    return Invocation(
        payload=json.loads(response["Payload"].read() or b"null"),
        function_error=response.get("FunctionError"),
        request_id=response["ResponseMetadata"]["RequestId"],
        log_tail=base64.b64decode(response.get("LogResult", "")).decode(errors="replace"),
    )


def log_streams(aws: Any, name: str) -> dict[str, list[str]]:
    """The function's CloudWatch log streams: stream name -> messages, oldest first ({} before the group exists)."""
    group = f"/aws/lambda/{name}"
    try:
        described = aws.logs.describe_log_streams(logGroupName=group)["logStreams"]
    except aws.logs.exceptions.ResourceNotFoundException:
        return {}
    return {
        stream["logStreamName"]: [
            event["message"]
            for event in aws.logs.get_log_events(
                logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True, limit=10000
            )["events"]
        ]
        for stream in described
    }


MAX_PEAK_GROWTH_MB = 40
"""What one hostile request or function may add to LocalStack's peak memory: LocalStack is bounded by the limits it
promises (AWS's), never by what a caller declares or sends."""


def reset_peak_memory(pid: int) -> int:
    """Make the kernel's record of ``pid``'s peak resident memory (VmHWM) what it uses now (``clear_refs`` 5);
    returns that, in bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return psutil.Process(pid).memory_info().rss


def peak_memory_growth_mb(pid: int, since: int) -> float:
    """How far ``pid``'s peak resident memory rose above ``since`` (bytes, from :func:`reset_peak_memory`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return (int(line.split()[1]) * 1024 - since) / 2**20
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def lambda_client(endpoint: str) -> Any:
    """A boto3 Lambda client for a LocalStack a test started itself (one attempt per call)."""
    return boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION).client(
        "lambda", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}, read_timeout=120)
    )


def create_function(
    client: Any, name: str, files: dict[str, str], handler: str = "lambda_function.lambda_handler"
) -> None:
    """A python3.11 function from in-memory sources, ready to invoke when this returns."""
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE_ARN,
        Handler=handler,
        Code={"ZipFile": build_zip(files)},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
