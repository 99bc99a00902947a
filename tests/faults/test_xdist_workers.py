"""pytest-xdist: every worker gets its own embedded LocalStack and workspaces, and cleans up after itself.

One real ``pytest -n 2 --dist each`` run of the echo module test (each worker runs it: two deployments at
once) with a state dir of its own. While it runs, the workers' run records show what each created; afterwards
nothing of either is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import processes_under

from embedded_localstack.paths import STATE_DIR_VARIABLE
from lambda_url_harness.runs.ledger import read_records
from lambda_url_harness.square.module import REPO_ROOT

pytestmark = pytest.mark.acceptance

RUN_BOUND_S = 480.0
"""A bound against a hang only (one deployment takes ~45 s here; two workers share 2 cores)."""


def test_each_worker_has_its_own_localstack_and_workspaces(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    environment = {
        key: value for key, value in os.environ.items() if key not in ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL")
    }
    environment[STATE_DIR_VARIABLE] = str(state_dir)
    started = time.monotonic()
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/acceptance/test_echo_module.py",
            "-n",
            "2",
            "--dist",
            "each",
            "--localstack=embedded",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'base'}",
            "-q",
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[str, dict[str, set[str]]] = {}
    try:
        deadline = time.monotonic() + RUN_BOUND_S
        while run.poll() is None and time.monotonic() < deadline:
            for _, record in read_records(state_dir):
                entry = seen.setdefault(record.label, {"localstacks": set(), "workspaces": set()})
                entry["localstacks"] |= {f"{item.endpoint} {item.state_dir}" for item in record.localstacks}
                entry["workspaces"] |= {item.path for item in record.workspaces}
            time.sleep(0.5)
        output = run.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
    print(f"pytest -n 2 (2 deployments): {time.monotonic() - started:.1f} s")

    assert run.returncode == 0, output[-4000:]
    assert "2 passed" in output.splitlines()[-1], output[-2000:]
    assert set(seen) == {"pytest gw0", "pytest gw1"}, seen
    first, second = seen["pytest gw0"], seen["pytest gw1"]
    assert len(first["localstacks"]) == 1 and len(second["localstacks"]) == 1, seen
    assert first["localstacks"].isdisjoint(second["localstacks"])
    assert {item.split()[0] for item in first["localstacks"]} != {item.split()[0] for item in second["localstacks"]}
    assert first["workspaces"] and second["workspaces"]
    assert first["workspaces"].isdisjoint(second["workspaces"])

    assert read_records(state_dir) == [], "every worker removes its run record"
    for item in first["localstacks"] | second["localstacks"]:
        localstack_dir = Path(item.split()[1])
        assert not localstack_dir.exists(), f"{localstack_dir} should be removed after a green run"
    assert processes_under(state_dir) == set()
    assert processes_under(tmp_path / "base") == set()
