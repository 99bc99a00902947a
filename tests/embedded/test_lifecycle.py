"""start / reuse / stop / stale PID file / crash recovery of the embedded LocalStack, with real processes.

Each test that needs a LocalStack starts its own on a fresh free port and state dir (not the session's).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from embedded_helpers import (
    REGION,
    ROLE_ARN,
    processes_using_endpoint,
    sandboxed_processes,
    stop_and_check_nothing_left,
)
from support import alive, build_zip, wait_until

from embedded_localstack.control import lifecycle
from embedded_localstack.control.health import COMMUNITY_SERVICES, health, is_healthy
from embedded_localstack.control.lifecycle import EmbeddedSettings, default_python, running_pid, start, stop
from embedded_localstack.control.ports import free_port, port_is_free
from embedded_localstack.control.processes import process_tree
from embedded_localstack.errors import EmbeddedLocalStackError
from embedded_localstack.service.sandbox.cgroups import REAPER_MODULE

pytestmark = pytest.mark.embedded


def test_settings_defaults_and_validation(tmp_path, monkeypatch):
    monkeypatch.delenv("LAMBDA_URL_HARNESS_STATE_DIR", raising=False)
    settings = EmbeddedSettings()
    assert settings.endpoint == "http://127.0.0.1:4566"
    assert settings.state_dir.parts[-2:] == (".state", "localstack")
    monkeypatch.setenv("LAMBDA_URL_HARNESS_STATE_DIR", str(tmp_path / "elsewhere"))
    assert EmbeddedSettings().state_dir == tmp_path / "elsewhere" / "localstack"
    with pytest.raises(ValueError, match="loopback only"):
        EmbeddedSettings(host="0.0.0.0")
    with pytest.raises(ValueError, match="port"):
        EmbeddedSettings(port=70000)


def test_start_reuse_stop_leaves_nothing(tmp_path):
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    instance = start(settings)
    try:
        assert instance.owned and instance.pid is not None
        assert instance.endpoint == settings.endpoint
        assert is_healthy(settings.endpoint)
        assert running_pid(settings) == instance.pid
        assert settings.log_file.is_file()

        again = start(settings)
        assert not again.owned, "a healthy LocalStack is reused, not started twice"
        assert again.pid == instance.pid
        again.stop()  # not owned: must not stop it
        assert is_healthy(settings.endpoint)
    except BaseException:
        stop(settings)
        raise
    stop_and_check_nothing_left(settings, instance.pid)
    assert not is_healthy(settings.endpoint)
    assert stop(settings) is False, "stopping twice is a no-op"


def test_stale_pid_file_is_detected(tmp_path):
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    settings.state_dir.mkdir(parents=True)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    settings.pid_file.write_text(json.dumps({"pid": int(finished.stdout)}))
    assert running_pid(settings) is None
    assert not settings.pid_file.exists(), "the stale PID file is removed"
    settings.pid_file.write_text(json.dumps({"pid": os.getpid()}))  # alive, but not LocalStack
    assert stop(settings) is False
    assert not settings.pid_file.exists()


def test_port_taken_by_something_else_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        settings = EmbeddedSettings(port=squatter.getsockname()[1], state_dir=tmp_path / "ls")
        with pytest.raises(EmbeddedLocalStackError, match="in use"):
            start(settings)


def test_missing_localstack_interpreter_is_a_clear_error(tmp_path):
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls", python=tmp_path / "no" / "python")
    with pytest.raises(EmbeddedLocalStackError, match="make venv"):
        start(settings)


def test_failed_start_points_at_the_log(tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'simulated start-up failure'\nexit 3\n")
    broken.chmod(0o755)
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls", python=broken)
    with pytest.raises(EmbeddedLocalStackError, match="exited during start-up") as failure:
        start(settings)
    assert str(settings.log_file) in str(failure.value)
    assert "simulated start-up failure" in str(failure.value)
    assert not settings.pid_file.exists()


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ((), ("iam", "lambda", "sts", "logs")),
        (("s3",), ("iam", "lambda", "sts", "logs", "s3")),
        ("SQS, dynamodb,,lambda", ("iam", "lambda", "sts", "logs", "sqs", "dynamodb")),
    ],
)
def test_services_are_added_to_the_defaults(services, expected):
    assert EmbeddedSettings(services=services).services == expected


@pytest.mark.parametrize("services", [("s4",), "s3,lambada", ("ecs",)])
def test_unknown_services_are_a_clear_error(services):
    with pytest.raises(ValueError, match="unknown LocalStack service") as error:
        EmbeddedSettings(services=services)
    assert "s3" in str(error.value)  # lists what is available


def test_known_services_are_localstacks_own():
    """COMMUNITY_SERVICES equals the providers the installed localstack-core registers."""
    script = (
        "import importlib.metadata as m; print(' '.join(sorted({e.name.split(':')[0] for e in "
        "m.entry_points(group='localstack.aws.provider')})))"
    )
    listed = subprocess.run(
        [str(default_python()), "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert set(listed) == COMMUNITY_SERVICES


def test_cli_start_status_stop(tmp_path):
    port = free_port()
    args = ["--port", str(port), "--state-dir", str(tmp_path / "ls"), "--services", "sqs"]

    def cli(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "embedded_localstack", command, *args],
            capture_output=True,
            text=True,
            timeout=180,
        )

    try:
        started = cli("start")
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == f"http://127.0.0.1:{port}"
        assert cli("status").returncode == 0
        document = health(f"http://127.0.0.1:{port}")
        assert document is not None and document["services"]["sqs"] != "disabled", document
        sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                           aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        assert sqs.create_queue(QueueName="cli-services")["QueueUrl"].endswith("/cli-services")
        # reusing the running LocalStack for a service it does not serve: a clear error, nothing started
        other = subprocess.run(
            [sys.executable, "-m", "embedded_localstack", "start", *args[:-1], "dynamodb"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 1
        assert "does not serve dynamodb" in other.stderr
    finally:
        stopped = cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert cli("status").returncode == 1
    assert port_is_free("127.0.0.1", port)
    bad = subprocess.run(
        [sys.executable, "-m", "embedded_localstack", "start", "--host", "0.0.0.0"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "loopback only" in bad.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "embedded_localstack", "start", "--services", "s3,nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    assert "unknown LocalStack service(s): nope" in unknown.stderr


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _localstack_with_a_warm_function(tmp_path) -> tuple[EmbeddedSettings, int, set[int], int]:
    """A LocalStack of its own with one warm environment: (settings, LocalStack pid, its processes, reaper pid)."""
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls", services=("lambda", "sts", "logs", "iam"))
    instance = start(settings)
    try:
        client = boto3.client(
            "lambda",
            endpoint_url=instance.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        name = f"crash-{uuid.uuid4().hex[:8]}"
        code = "import os\ndef lambda_handler(e, c):\n    return os.environ['LOCALSTACK_RUNTIME_ID']\n"
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE_ARN,
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": build_zip({"lambda_function.py": code})},
        )
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        environment = json.loads(client.invoke(FunctionName=name)["Payload"].read())
        function_pids = sandboxed_processes(instance.pid, environment)
        assert function_pids and all(alive(pid) for pid in function_pids)
        reapers = [pid for pid in process_tree(instance.pid) if REAPER_MODULE.encode() in _cmdline(pid)]
        assert len(reapers) == 1, "a sandboxed LocalStack runs one reaper"
    except BaseException:
        stop(settings)
        raise
    return settings, instance.pid, function_pids, reapers[0]


def test_crashed_localstack_leaves_no_function_process(tmp_path):
    """After a SIGKILL of LocalStack, warm function processes end by themselves and the PID file is stale.

    (A smoke test of the reaper: the instant it exists for is hit only now and then by such a kill, see
    test_stale_cgroups.py for the reaper on its own.)"""
    settings, pid, function_pids, reaper = _localstack_with_a_warm_function(tmp_path)
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not any(alive(p) for p in function_pids), timeout_s=10), "orphaned function processes"
    assert wait_until(lambda: not sandboxed_processes(pid), timeout_s=10), "spares outlived LocalStack"
    assert wait_until(lambda: not alive(reaper), timeout_s=10), "the reaper exits once it has cleared up"
    assert wait_until(lambda: not alive(pid), timeout_s=5)
    assert stop(settings) is False, "the PID file of a crashed LocalStack is stale"
    assert not processes_using_endpoint(settings.port)
    assert wait_until(lambda: port_is_free(settings.host, settings.port), timeout_s=5)


def test_stop_of_a_localstack_that_ignores_sigterm_leaves_nothing(tmp_path, monkeypatch):
    """stop() SIGKILLs a LocalStack still running after the grace period (here none) and lets its reaper clear up."""
    monkeypatch.setattr(lifecycle, "STOP_GRACE_S", 0.0)
    settings, pid, function_pids, reaper = _localstack_with_a_warm_function(tmp_path)
    stop_and_check_nothing_left(settings, pid)
    assert not alive(reaper) and not any(alive(p) for p in function_pids)
