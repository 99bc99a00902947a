"""Discovery order, forced modes and their error messages; health checks against a real loopback server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from embedded_localstack.launcher import DEFAULT_SERVICES, parse_services
from lambda_url_harness.localstack import (
    DiscoveryOptions,
    LocalStackLease,
    LocalStackUnavailableError,
    Mode,
    acquire,
    check_endpoint,
    steps_for,
    try_external,
    try_running,
)
from lambda_url_harness.project import REPO_ROOT


def recording_steps(calls: list[str], succeed: str | None) -> dict:
    def step(name: str):
        def run(options: DiscoveryOptions):
            calls.append(name)
            if name == succeed:
                return LocalStackLease(endpoint=f"http://{name}:4566", source=name, owned=False)
            return f"{name} not available"

        return run

    return {name: step(name) for name in ("external", "running", "docker", "embedded")}


def test_auto_tries_every_step_in_the_documented_order() -> None:
    assert steps_for(Mode.AUTO) == ("external", "running", "docker", "embedded")


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


def test_lease_stops_only_what_it_started() -> None:
    stopped: list[str] = []
    LocalStackLease("http://x:1", "running", owned=False, _stopper=lambda: stopped.append("found")).stop()
    owned = LocalStackLease("http://x:1", "embedded", owned=True, _stopper=lambda: stopped.append("ours"))
    owned.stop()
    owned.stop()
    assert stopped == ["ours"]


def test_external_uses_localstack_endpoint_when_healthy(fake_localstack) -> None:
    lease = try_external(DiscoveryOptions(env={"LOCALSTACK_ENDPOINT": fake_localstack.endpoint + "/"}))
    assert isinstance(lease, LocalStackLease)
    assert (lease.endpoint, lease.source, lease.owned) == (fake_localstack.endpoint, "external", False)


def test_external_falls_back_to_aws_endpoint_url(fake_localstack) -> None:
    lease = try_external(DiscoveryOptions(env={"AWS_ENDPOINT_URL": fake_localstack.endpoint}))
    assert isinstance(lease, LocalStackLease)
    assert lease.detail == "AWS_ENDPOINT_URL"


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
    assert isinstance(lease, LocalStackLease)
    assert lease.source == "running"
    assert not lease.owned


def test_nothing_listening_is_not_localstack() -> None:
    # Port 9 (discard) on loopback: nothing listens there in these environments.
    assert check_endpoint("http://127.0.0.1:9", ("lambda",)) == "nothing listens at http://127.0.0.1:9"


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


def test_services_for_the_harness_include_the_required_ones():
    assert DiscoveryOptions(required_services=parse_services("s3")).required_services[:4] == DEFAULT_SERVICES
