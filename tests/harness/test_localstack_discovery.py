"""Discovery order, forced modes and their error messages; health checks against a real loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from embedded_localstack.control import processes
from embedded_localstack.control.health import check_endpoint
from lambda_url_harness.discovery import (
    MODE_STEPS,
    STEPS,
    DiscoveryOptions,
    Mode,
    Step,
    acquire,
    try_external,
    try_running,
)
from lambda_url_harness.errors import LocalStackUnavailableError
from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.square.module import REPO_ROOT


def recording_steps(calls: list[str], succeed: str | None) -> dict:
    def step(name: str):
        def run(options: DiscoveryOptions):
            calls.append(name)
            if name == succeed:
                return LocalStackHandle(source=name, endpoint=f"http://{name}:4566", owned=False)
            return f"{name} not available"

        return run

    return {name: Step(step(name), STEPS[name].fix) for name in ("external", "running", "docker", "embedded")}


def test_auto_tries_every_step_in_the_documented_order() -> None:
    assert MODE_STEPS[Mode.AUTO] == ("external", "running", "docker", "embedded")


def test_every_mode_has_steps_and_every_step_a_fix() -> None:
    assert set(MODE_STEPS) == set(Mode)
    assert {name for steps in MODE_STEPS.values() for name in steps} == set(STEPS)


@pytest.mark.parametrize(
    ("succeed", "expected_calls"),
    [
        ("external", ["external"]),
        ("running", ["external", "running"]),
        ("docker", ["external", "running", "docker"]),
        ("embedded", ["external", "running", "docker", "embedded"]),
    ],
)
def test_auto_stops_at_the_first_step_that_provides_localstack(succeed: str, expected_calls: list[str]) -> None:
    calls: list[str] = []
    lease = acquire(DiscoveryOptions(mode=Mode.AUTO), recording_steps(calls, succeed))
    assert lease.source == succeed
    assert calls == expected_calls


@pytest.mark.parametrize(("mode", "expected_calls"), [(Mode.DOCKER, ["docker"]), (Mode.EMBEDDED, ["embedded"])])
def test_forced_mode_tries_only_that_mode(mode: Mode, expected_calls: list[str]) -> None:
    calls: list[str] = []
    with pytest.raises(LocalStackUnavailableError):
        acquire(DiscoveryOptions(mode=mode), recording_steps(calls, succeed=None))
    assert calls == expected_calls


def test_failure_message_lists_what_was_tried_and_how_to_fix_it() -> None:
    with pytest.raises(LocalStackUnavailableError) as error:
        acquire(DiscoveryOptions(mode=Mode.AUTO), recording_steps([], succeed=None))
    message = str(error.value)
    assert "--localstack=auto" in message
    for name in ("external", "running", "docker", "embedded"):
        assert f"- {name}: {name} not available" in message
    assert "LOCALSTACK_ENDPOINT" in message
    assert "make venv" in message


def test_handle_round_trips_through_json() -> None:
    handle = LocalStackHandle(
        source="embedded", endpoint="http://127.0.0.1:4570", owned=True, pid=123, started=1.5, state_dir="/x"
    )
    assert LocalStackHandle.from_json(json.loads(json.dumps(handle.to_json()))) == handle
    assert handle.port == 4570


def test_a_found_localstack_is_never_stopped() -> None:
    found = LocalStackHandle(source="running", endpoint="http://127.0.0.1:9", owned=False)
    assert found.stop() is False


def test_an_owned_handle_whose_process_is_another_one_signals_nothing(tmp_path) -> None:
    """PID reuse, or someone else's LocalStack started later from the same state dir: left alone."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        started = processes.start_time(sleeper.pid)
        assert started is not None
        stale = LocalStackHandle(
            source="embedded",
            endpoint="http://127.0.0.1:9",
            owned=True,
            pid=sleeper.pid,
            started=started - 3600,  # the process we started an hour ago, not this one
            state_dir=str(tmp_path),
        )
        assert stale.stop() is False
        assert stale.stop() is False  # idempotent
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


def test_external_uses_localstack_endpoint_when_healthy(fake_localstack) -> None:
    lease = try_external(DiscoveryOptions(env={"LOCALSTACK_ENDPOINT": fake_localstack.endpoint + "/"}))
    assert isinstance(lease, LocalStackHandle)
    assert (lease.endpoint, lease.source, lease.owned) == (fake_localstack.endpoint, "external", False)


def test_external_falls_back_to_aws_endpoint_url(fake_localstack) -> None:
    lease = try_external(DiscoveryOptions(env={"AWS_ENDPOINT_URL": fake_localstack.endpoint}))
    assert isinstance(lease, LocalStackHandle)
    assert lease.found_via == "AWS_ENDPOINT_URL"


def test_external_without_variables_says_so() -> None:
    assert try_external(DiscoveryOptions(env={})) == "neither LOCALSTACK_ENDPOINT nor AWS_ENDPOINT_URL is set"


def test_unhealthy_endpoint_is_reported_with_its_address(fake_localstack) -> None:
    fake_localstack.health = None
    reason = try_external(DiscoveryOptions(env={"LOCALSTACK_ENDPOINT": fake_localstack.endpoint}))
    assert reason is not None
    assert reason.startswith(
        f"LOCALSTACK_ENDPOINT={fake_localstack.endpoint}: {fake_localstack.endpoint} answers "
        "/_localstack/health with HTTP 503"
    )
    assert reason.endswith("that is not LocalStack")


def test_missing_services_are_named(fake_localstack) -> None:
    fake_localstack.health = {"services": {"iam": "available", "lambda": "disabled", "sts": "running"}}
    reason = check_endpoint(fake_localstack.endpoint, ("iam", "lambda", "logs", "sts"))
    assert reason is not None
    assert "lacks services lambda, logs" in reason


def test_running_step_checks_the_default_endpoint(fake_localstack) -> None:
    lease = try_running(DiscoveryOptions(default_endpoint=fake_localstack.endpoint))
    assert isinstance(lease, LocalStackHandle)
    assert lease.source == "running"
    assert not lease.owned


def test_nothing_listening_is_not_localstack() -> None:
    # Port 9 (discard) on loopback: nothing listens there in these environments.
    assert check_endpoint("http://127.0.0.1:9", ("lambda",)) == "nothing listens at http://127.0.0.1:9"


def test_extra_services_are_added_once_to_the_required_ones() -> None:
    options = DiscoveryOptions(extra_services=("s3", "lambda", "sqs"))
    assert options.services_to_start() == ("iam", "lambda", "logs", "sts", "s3", "sqs")


@pytest.mark.parametrize(
    ("args", "environ"),
    [(["--localstack-services=s3,bogus"], {}), ([], {"LOCALSTACK_TEST_SERVICES": "bogus"})],
    ids=["option", "variable"],
)
def test_unknown_test_services_are_a_usage_error(args, environ):
    """``--localstack-services`` / LOCALSTACK_TEST_SERVICES are checked before any test (or LocalStack) starts."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == pytest.ExitCode.USAGE_ERROR, completed.stdout + completed.stderr
    assert "unknown LocalStack service(s): bogus" in completed.stderr
    assert "s3, s3control" in completed.stderr  # the message lists what is available
