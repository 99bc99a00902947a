"""LocalStack crashes (SIGKILL) while ``tflocal apply`` runs against it.

Expected: the apply fails with a message naming the dead LocalStack, the destroy is still attempted and
fails fast (one provider attempt instead of 25 with back-off, which took 84 s here), no LocalStack or
function process is left, and a new LocalStack on the same port and state dir starts clean.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from faults_helpers import (
    client,
    role_exists,
    sigkill,
    start_private_localstack,
    start_warm_function,
    stop_quietly,
)
from support import alive, processes_under, wait_until

from embedded_localstack.control.health import is_healthy
from embedded_localstack.control.processes import process_tree
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.errors import LocalStackGoneError
from lambda_url_harness.square.module import REPO_ROOT, SQUARE_MODULE_ITEMS
from lambda_url_harness.timing import PhaseTimer
from lambda_url_harness.workspace import create_workspace

pytestmark = pytest.mark.acceptance

log = logging.getLogger(__name__)

APPLY_BOUND_S = 300.0
"""Only a bound against a hang; the measured figures are logged."""


def test_localstack_killed_during_apply(tmp_path: Path) -> None:
    localstack = start_private_localstack(tmp_path / "localstack")
    settings = localstack.settings
    assert localstack.pid is not None
    try:
        start_warm_function(localstack.endpoint, "fault-warm")
        # Everything LocalStack started (function processes, spare runtime processes): they must not outlive it.
        children = process_tree(localstack.pid) - {localstack.pid}
        assert children, "expected a warm function process before the crash"

        workspace = create_workspace(REPO_ROOT, tmp_path / "workspaces", include=SQUARE_MODULE_ITEMS)
        function_name = f"square-{workspace.suffix}"
        deployment = Deployment(
            workspace.root, localstack.endpoint, PhaseTimer(), variables={"function_name": function_name}
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            applying = pool.submit(deployment.apply)
            # Mid-apply: the role exists (state has resources), the function and URL do not yet.
            assert wait_until(lambda: role_exists(localstack.endpoint, f"{function_name}-role"), 120), (
                "the apply never created the role"
            )
            assert not applying.done()
            killed_at = time.monotonic()
            sigkill(localstack.pid)  # a crash: only LocalStack's own process, nothing cleans up after it

            with pytest.raises(LocalStackGoneError) as failure:
                applying.result(timeout=APPLY_BOUND_S)
            apply_failed_after = time.monotonic() - killed_at
        message = str(failure.value)
        assert f"LocalStack at {localstack.endpoint} stopped answering during `apply`" in message
        assert "connection refused" in message  # Terraform's own words are quoted
        assert deployment.tflocal.has_state(), "the half-applied state must still list what was created"

        started = time.monotonic()
        with pytest.raises(LocalStackGoneError) as destroy_failure:
            deployment.destroy()
        destroy_failed_after = time.monotonic() - started
        assert f"no LocalStack answers at {localstack.endpoint}" in str(destroy_failure.value)
        assert "aws_iam_role.this" in str(destroy_failure.value) or "aws_iam_role" in str(destroy_failure.value)
        assert not (workspace.root / "harness_fast_fail_override.tf").exists()
        log.warning(
            "apply failed %.1f s after the crash; the destroy attempt failed after %.1f s",
            apply_failed_after,
            destroy_failed_after,
        )

        # No orphans: the crashed LocalStack, its function processes, tflocal/terraform.
        assert not alive(localstack.pid)
        assert wait_until(lambda: not any(alive(pid) for pid in children), 15), (
            f"function processes outlived LocalStack: {sorted(pid for pid in children if alive(pid))}"
        )
        assert not processes_under(workspace.root), "tflocal or terraform still runs in the workspace"

        # The next run starts clean on the same port and state dir (the PID file is stale now).
        assert settings.pid_file.exists()
        again = start_private_localstack(settings.state_dir, port=settings.port)
        try:
            assert again.pid != localstack.pid
            assert is_healthy(again.endpoint)
            assert client("lambda", again.endpoint).list_functions()["Functions"] == []
        finally:
            stop_quietly(again.settings)
    finally:
        stop_quietly(settings)
    assert not processes_under(settings.state_dir), "a LocalStack or function process is left"
