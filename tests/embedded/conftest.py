"""Fixtures for the embedded LocalStack tests: a real LocalStack on a free port, real function processes.

The session's LocalStack uses a free port and a state dir under pytest's tmp dir, so it never collides with a
``make start`` LocalStack on 4566 or with a parallel run; it is stopped at the end, and the teardown fails if
any of its processes (LocalStack or function) is left or the port is still taken.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from embedded_helpers import (
    HOST_SECRET_VALUE,
    HOST_SECRETS,
    MISSING_PYTHON,
    REGION,
    ROLE_ARN,
    SESSION_SERVICES,
    stop_and_check_nothing_left,
)
from support import build_zip

from embedded_localstack.control.lifecycle import EmbeddedLocalStack, EmbeddedSettings, start
from embedded_localstack.control.ports import free_port


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLocalStack]:
    settings = EmbeddedSettings(
        port=free_port(),
        state_dir=tmp_path_factory.mktemp("embedded-localstack"),
        services=SESSION_SERVICES,  # beyond the defaults: functions' boto3 calls reach S3 and SQS
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDED_LAMBDA_PYTHON3_12", MISSING_PYTHON)
        # The suite runs sandboxed: without a working bubblewrap the start fails instead of falling back.
        patch.setenv("EMBEDDED_LAMBDA_SANDBOX", "bwrap")
        # Secrets of the shell that starts LocalStack: none may reach LocalStack or a function.
        for name in HOST_SECRETS:
            patch.setenv(name, HOST_SECRET_VALUE)
        instance = start(settings)
    assert instance.owned, "the session must start its own LocalStack on a free port"
    try:
        yield instance
    finally:
        assert instance.pid is not None
        stop_and_check_nothing_left(settings, instance.pid)


@dataclass(frozen=True)
class AwsClients:
    lambda_: Any
    logs: Any


@pytest.fixture(scope="session")
def aws(embedded: EmbeddedLocalStack) -> AwsClients:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    # 20 concurrent invokes need 20 pooled connections; boto3's default is 10.
    client_config = Config(max_pool_connections=32, retries={"max_attempts": 1}, read_timeout=120)
    return AwsClients(
        lambda_=session.client("lambda", endpoint_url=embedded.endpoint, config=client_config),
        logs=session.client("logs", endpoint_url=embedded.endpoint, config=client_config),
    )


DeployFunction = Callable[..., str]


@pytest.fixture
def deploy_function(aws: AwsClients) -> Iterator[DeployFunction]:
    """Creates a function from in-memory sources (unique name), waits until it is ready; deletes it afterwards."""
    created: list[str] = []

    def deploy(
        files: dict[str, str],
        handler: str = "lambda_function.lambda_handler",
        runtime: str = "python3.11",
        timeout: int = 10,
        memory_size: int = 128,
        environment: dict[str, str] | None = None,
        wait_active: bool = True,
        zip_file: bytes | None = None,
        ephemeral_mb: int = 512,
    ) -> str:
        name = f"embedded-test-{uuid.uuid4().hex[:12]}"
        created.append(name)  # registered first: a create that half-succeeds is still cleaned up
        aws.lambda_.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE_ARN,
            Handler=handler,
            Code={"ZipFile": zip_file if zip_file is not None else build_zip(files)},
            Timeout=timeout,
            MemorySize=memory_size,
            Environment={"Variables": environment or {}},
            EphemeralStorage={"Size": ephemeral_mb},
        )
        if wait_active:
            aws.lambda_.get_waiter("function_active_v2").wait(
                FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
            )
        return name

    yield deploy
    for name in created:
        with contextlib.suppress(aws.lambda_.exceptions.ResourceNotFoundException):
            aws.lambda_.delete_function(FunctionName=name)
