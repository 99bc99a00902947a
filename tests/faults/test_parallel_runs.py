"""Two test runs at once share the repo's state dir but nothing else: both green, no collisions.

Two real pytest sessions of an acceptance subset start together, each with ``--localstack=embedded`` and
the repository's own ``.state`` (as two ``make test`` runs would). While they run, their run records show
what each created: distinct LocalStack ports and state dirs, distinct workspaces (so distinct tflocal
override files and Terraform states), distinct resource names. Afterwards nothing of either is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import processes_under

from embedded_localstack.paths import state_root
from lambda_url_harness.runs.ledger import read_records
from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

SUBSET = ["tests/acceptance/test_deployed_function_url.py", "-k", "not second_plan"]
RUN_BOUND_S = 420.0
"""A bound against a hang only (one run alone takes ~60 s here; two share 2 cores)."""


def test_two_runs_in_parallel_do_not_collide(tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if key not in ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
    }
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                *SUBSET,
                "--localstack=embedded",
                "-p",
                "no:cacheprovider",
                f"--basetemp={tmp_path / f'run-{index}'}",
                "-q",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    seen: dict[int, dict[str, set[str]]] = {run.pid: {"localstacks": set(), "workspaces": set()} for run in runs}
    try:
        deadline = time.monotonic() + RUN_BOUND_S
        while any(run.poll() is None for run in runs) and time.monotonic() < deadline:
            for _, record in read_records(state_root()):
                if record.owner_pid in seen:
                    seen[record.owner_pid]["localstacks"] |= {
                        f"{item.endpoint} {item.state_dir}" for item in record.localstacks
                    }
                    seen[record.owner_pid]["workspaces"] |= {item.path for item in record.workspaces}
            time.sleep(0.5)
        outputs = [run.communicate(timeout=max(1.0, deadline - time.monotonic()))[0] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait(timeout=30)

    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-4000:]
        assert " passed" in output.splitlines()[-1] and "failed" not in output.splitlines()[-1], output[-2000:]
    first, second = (seen[run.pid] for run in runs)
    assert len(first["localstacks"]) == 1 and len(second["localstacks"]) == 1, seen
    assert first["localstacks"].isdisjoint(second["localstacks"])
    assert {item.split()[0] for item in first["localstacks"]} != {item.split()[0] for item in second["localstacks"]}
    assert first["workspaces"] and second["workspaces"]
    assert first["workspaces"].isdisjoint(second["workspaces"])

    # Both cleaned up after themselves: records gone, no process left in their LocalStack state dirs.
    owners = {record.owner_pid for _, record in read_records(state_root())}
    assert not owners & set(seen)
    for item in first["localstacks"] | second["localstacks"]:
        state_dir = Path(item.split()[1])
        assert not processes_under(state_dir), f"a process of the LocalStack in {state_dir} is left"
        assert not state_dir.exists(), f"{state_dir} should be removed after a green run"
