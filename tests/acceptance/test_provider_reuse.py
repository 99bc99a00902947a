"""A deployment's Terraform commands share one aws provider process behind the validation-caching proxy.

Real Terraform, real aws provider, real LocalStack: what is checked is that Terraform really talked to the shared
provider (the proxy forwarded its calls and answered repeated validations), that nothing changes for the module
(apply, a no-change plan, destroy), and that the process and its socket end with the deployment, also when the
provider dies on the way or cannot be shared (a CA bundle in the provider block).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import psutil
import pytest
from botocore.exceptions import ClientError
from support import processes_under, wait_until

from lambda_url_harness.deployment import Deployment
from lambda_url_harness.provider.proxy import AWS_PROVIDER
from lambda_url_harness.provider.server import OUTPUT_NAME, ProviderServer
from lambda_url_harness.pytest_plugin import STATE_KEY
from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

ECHO_MODULE = "tests/modules/echo"


def _echo(terraform_deploy: Callable[..., Deployment], module: str = ECHO_MODULE) -> Deployment:
    return terraform_deploy(module, {"name": "reuse-{suffix}", "python_executable": sys.executable})


def _server(deployment: Deployment) -> ProviderServer:
    server = deployment.tflocal.provider_server
    assert server is not None, "the deployment's commands ran without a shared provider"
    return server


def test_one_provider_process_serves_every_command_and_ends_with_the_deployment(
    terraform_deploy: Callable[..., Deployment], aws_client: Callable[[str], Any], request: pytest.FixtureRequest
) -> None:
    deployment = _echo(terraform_deploy)
    name = deployment.outputs["function_name"]
    server = _server(deployment)

    # The shared process is the aws provider installed by init, running in the working directory (relative paths),
    # as the child of the proxy process.
    proxy_process = psutil.Process(server.pid)
    assert proxy_process.cmdline()[1:3] == ["-m", "lambda_url_harness.provider.proxy"]
    (process,) = proxy_process.children()
    installed = deployment.working_dir / ".terraform" / "providers" / AWS_PROVIDER
    assert Path(process.exe()).resolve() == server.binary.resolve()
    assert installed in server.binary.parents
    assert process.cmdline()[1:] == ["-debug"]
    assert Path(process.cwd()) == deployment.working_dir.resolve()
    # Recorded in the run's ledger, so a killed run's successor stops it.
    ledger = request.config.stash[STATE_KEY].ledger
    assert server.pid in {tracked.pid for tracked in ledger.record.processes}

    # Terraform's apply went through it: the configuration was validated at most once (an earlier deployment of the
    # session may have validated the same one), repeats were answered.
    misses, hits = server.validations()
    assert misses <= 1 and hits >= 2, (misses, hits)
    response = deployment.http.post(deployment.outputs["url"], json={"n": 1}, timeout=60)
    assert response.status_code == 200, response.text

    # Same provider, same answers: a plan right after apply is empty, and the process is still the same one.
    assert not deployment.plan().has_changes
    assert _server(deployment).pid == server.pid
    assert server.validations()[0] == misses

    socket_dir = server.socket_dir
    assert socket_dir.is_dir() and oct(socket_dir.stat().st_mode & 0o777) == "0o700"
    deployment.destroy()
    assert not server.running()
    assert not process.is_running()
    assert not socket_dir.exists()
    assert deployment.tflocal.provider_server is None
    assert server.pid not in {tracked.pid for tracked in ledger.record.processes}
    assert processes_under(deployment.working_dir) == set()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws_client("lambda").get_function(FunctionName=name)


def test_a_provider_process_that_dies_is_replaced(
    terraform_deploy: Callable[..., Deployment],
    aws_client: Callable[[str], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployment = _echo(terraform_deploy)
    name = deployment.outputs["function_name"]
    first = _server(deployment)
    (provider,) = psutil.Process(first.pid).children()
    announced = json.loads((deployment.working_dir / ".terraform" / OUTPUT_NAME).read_text().split("'")[1])
    proxy_socket = Path(announced[AWS_PROVIDER]["Addr"]["String"])
    assert proxy_socket.is_socket() and proxy_socket.parent == first.socket_dir
    os.kill(first.pid, signal.SIGKILL)  # the proxy process: its provider goes with it (parent-death signal)
    assert wait_until(lambda: not first.running(), timeout_s=10)
    assert wait_until(lambda: not provider.is_running(), timeout_s=10)

    with caplog.at_level(logging.WARNING, logger="lambda_url_harness.provider.reuse"):
        assert not deployment.plan().has_changes
    assert "ended (exit code -9); starting another" in caplog.text
    second = _server(deployment)
    assert second.pid != first.pid and second.running()
    assert not first.socket_dir.exists(), "the dead server's sockets are removed"

    deployment.destroy()
    assert not second.running()
    assert processes_under(deployment.working_dir) == set()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws_client("lambda").get_function(FunctionName=name)


def test_a_ca_bundle_in_the_provider_block_falls_back_to_terraforms_own_providers(
    terraform_deploy: Callable[..., Deployment],
    aws_client: Callable[[str], Any],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """The aws provider cannot re-configure with a CA bundle (it keeps its first HTTP client): the command runs
    again the usual way, and the deployment's later commands do too."""
    module = tmp_path / "echo-with-ca-bundle"
    shutil.copytree(REPO_ROOT / ECHO_MODULE, module)
    (module / "provider.tf").write_text(f'provider "aws" {{\n  custom_ca_bundle = "{certifi.where()}"\n}}\n')

    with caplog.at_level(logging.WARNING, logger="lambda_url_harness.provider.reuse"):
        deployment = _echo(terraform_deploy, str(module))
    assert "unable to add custom RootCAs HTTPClient" in caplog.text
    assert "running it again with Terraform's own providers" in caplog.text
    assert deployment.tflocal.shares_provider is False
    assert deployment.tflocal.provider_server is None
    name = deployment.outputs["function_name"]
    assert aws_client("lambda").get_function(FunctionName=name)["Configuration"]["State"] == "Active"

    deployment.destroy()
    assert processes_under(deployment.working_dir) == set()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws_client("lambda").get_function(FunctionName=name)


@pytest.fixture(scope="module")
def module_echo(terraform_deploy_module: Callable[..., Deployment]) -> Deployment:
    return _echo(terraform_deploy_module)


def test_a_deployment_shared_by_tests_holds_no_provider_between_commands(module_echo: Deployment) -> None:
    """An idle provider would hold ~0.5 GB until the module ends; each command starts one (validations answered
    from the session's cache) and ends it."""
    assert module_echo.tflocal.shares_provider
    assert module_echo.tflocal.provider_server is None
    assert processes_under(module_echo.working_dir) == set()
    assert not module_echo.plan().has_changes
    assert module_echo.tflocal.provider_server is None
    assert processes_under(module_echo.working_dir) == set()


def test_deployments_of_a_session_share_the_providers_answers(
    module_echo: Deployment, terraform_deploy: Callable[..., Deployment]
) -> None:
    """Another test's deployment, another provider process, the same configuration: no validation of it reaches
    that provider (pytest's per-test variables are not part of what identifies a provider)."""
    other = _echo(terraform_deploy)
    misses, hits = _server(other).validations()
    assert misses == 0 and hits >= 3, (misses, hits)
