"""The embedded mode's performance settings (lifecycle.PERFORMANCE_SETTINGS, tuning patches) and the stock baseline.

Tuned or stock, what a client sees is AWS's sequence: CreateFunction answers ``State: Pending``, the function
then reads ``Active`` with ``LastUpdateStatus: Successful``, and it answers invokes. The tuned LocalStack is
already Active when CreateFunction returns (``LAMBDA_SYNCHRONOUS_CREATE``); the stock one (``start --stock``,
the benchmark's baseline) runs with none of the settings.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from embedded_helpers import REGION, ROLE_ARN, processes_using_endpoint
from support import build_zip

from embedded_localstack.control.lifecycle import (
    PERFORMANCE_SETTINGS,
    TUNING_VARIABLE,
    EmbeddedSettings,
    running_pid,
    stop,
)
from embedded_localstack.control.ports import free_port
from embedded_localstack.service.patches.metrics_worker import METRICS_THREAD_NAME
from embedded_localstack.service.patches.shared_timers import TIMER_THREAD_NAME

pytestmark = pytest.mark.embedded

HANDLER = {"lambda_function.py": "def lambda_handler(event, context):\n    return {'result': event['n'] ** 2}\n"}


def environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode(errors="replace").split("=", 1) for entry in entries if b"=" in entry)


def create_and_check_aws_sequence(lambda_client, expect_active_at_once: bool) -> None:
    name = f"perf-{uuid.uuid4().hex[:10]}"
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE_ARN,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": build_zip(HANDLER)},
    )
    try:
        assert created["State"] == "Pending"  # AWS's CreateFunction answer, with or without synchronous create
        first_read = lambda_client.get_function(FunctionName=name)["Configuration"]
        if expect_active_at_once:
            assert first_read["State"] == "Active"
        lambda_client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )
        configuration = lambda_client.get_function(FunctionName=name)["Configuration"]
        assert (configuration["State"], configuration["LastUpdateStatus"]) == ("Active", "Successful")
        answer = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": 7}).encode())
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {"result": 49}
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_tuned_localstack_is_active_when_create_returns(embedded, aws):
    environment = environment_of(embedded.pid)
    for name, value in PERFORMANCE_SETTINGS.items():
        assert environment.get(name) == value
    assert environment.get(TUNING_VARIABLE) == "on"
    create_and_check_aws_sequence(aws.lambda_, expect_active_at_once=True)


def test_stock_localstack_has_none_of_the_settings_and_behaves_the_same(tmp_path):
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "stock", tuned=False)
    argv = [sys.executable, "-m", "embedded_localstack", "start", "--stock", "--port", str(settings.port)]
    argv += ["--state-dir", str(settings.state_dir)]
    try:
        started = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr
        pid = running_pid(settings)
        assert pid is not None
        environment = environment_of(pid)
        assert not set(PERFORMANCE_SETTINGS) & set(environment)
        assert environment.get(TUNING_VARIABLE) == "off"
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        client = session.client("lambda", endpoint_url=settings.endpoint, config=Config(retries={"max_attempts": 1}))
        create_and_check_aws_sequence(client, expect_active_at_once=False)
    finally:
        stop(settings)
    assert not processes_using_endpoint(settings.port)


@pytest.mark.parametrize(("value", "enabled"), [(None, True), ("on", True), ("off", False), (" OFF ", False)])
def test_in_process_speedups_follow_the_launchers_switch(value: str | None, enabled: bool) -> None:
    from embedded_localstack.settings import tuning_enabled

    assert tuning_enabled({} if value is None else {TUNING_VARIABLE: value}) is enabled


COUNTING_HANDLER = {
    "lambda_function.py": (
        "import os\n"
        "def lambda_handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('asked to fail')\n"
        "    return {'pid': os.getpid()}\n"
    )
}


def thread_names(pid: int) -> set[str]:
    names = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            names.add((task / "comm").read_text().strip())
    return names


def metric_sum(cloudwatch, name: str, metric: str) -> float:
    now = datetime.datetime.now(datetime.UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=now - datetime.timedelta(minutes=10),
        EndTime=now + datetime.timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in points)


@pytest.mark.parametrize("tuned", [True, False], ids=["tuned", "stock"])
def test_invocation_threads_are_shared_when_tuned_and_metrics_environments_and_errors_stay_the_same(
    tmp_path: Path, tuned: bool
) -> None:
    """Tuned, LocalStack's per-invocation keep-alive timer and metrics threads become two shared threads.

    Either way: every invocation is counted in CloudWatch's ``AWS/Lambda`` ``Invocations`` metric and every
    function error in ``Errors`` (as AWS counts them), and sequential invocations reuse one environment.
    """
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "localstack", tuned=tuned)
    argv = [sys.executable, "-m", "embedded_localstack", "start", "--port", str(settings.port), "--services"]
    argv += ["cloudwatch", "--state-dir", str(settings.state_dir), *([] if tuned else ["--stock"])]
    try:
        started = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr
        pid = running_pid(settings)
        assert pid is not None
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        config = Config(retries={"max_attempts": 1}, read_timeout=60)
        lambda_client = session.client("lambda", endpoint_url=settings.endpoint, config=config)
        cloudwatch = session.client("cloudwatch", endpoint_url=settings.endpoint, config=config)
        name = f"threads-{uuid.uuid4().hex[:10]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE_ARN,
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": build_zip(COUNTING_HANDLER)},
        )
        lambda_client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )
        answers = [
            lambda_client.invoke(FunctionName=name, Payload=json.dumps({"fail": index in (2, 5)}).encode())
            for index in range(8)
        ]
        results = [json.loads(answer["Payload"].read()) for answer in answers]
        assert [answer.get("FunctionError") for answer in answers] == [None, None, "Unhandled"] * 2 + [None, None]
        assert [result.get("errorType") for result in results if "errorType" in result] == ["ValueError"] * 2
        assert len({result["pid"] for result in results if "pid" in result}) == 1  # one environment, kept alive

        shared = {TIMER_THREAD_NAME, METRICS_THREAD_NAME}
        assert shared <= thread_names(pid) if tuned else not shared & thread_names(pid)
        sums: tuple[float, float] = (0.0, 0.0)
        for _ in range(50):  # bounded: the metrics are recorded after the invocations answered
            sums = (metric_sum(cloudwatch, name, "Invocations"), metric_sum(cloudwatch, name, "Errors"))
            if sums == (8, 2):
                break
            time.sleep(0.2)
        assert sums == (8, 2)
    finally:
        stop(settings)
    assert not processes_using_endpoint(settings.port)
