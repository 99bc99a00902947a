"""Hostile functions against an execution environment's resources, asserted as AWS behaves: CPU, memory with /tmp
apart, freezing between invocations, and the caps over all environments of one LocalStack.

Real embedded LocalStack (sandboxed), real functions, real cgroups (v1 cpu, memory, pids, freezer). AWS gives a
function CPU in proportion to its memory (1,769 MB = one vCPU), counts /tmp (ephemeral storage) apart from its
memory, and freezes the environment between invocations (docs/embedded-mode.md, "The sandbox").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from embedded_helpers import ROLE_ARN, Invocation, invoke, lambda_client, sandboxed_processes
from support import build_zip, wait_until

from embedded_localstack.control.lifecycle import (
    EmbeddedLocalStack,
    EmbeddedLocalStackError,
    EmbeddedSettings,
    start,
    stop,
)
from embedded_localstack.control.ports import free_port
from embedded_localstack.service.sandbox import cgroups
from embedded_localstack.settings import ResourceSettings

pytestmark = pytest.mark.embedded

# Busy processes, each until it has used `cpu_s` of CPU: the environment's CPU over wall time is what it was given.
BUSY = """
import os, subprocess, sys, time

SPIN = "import time\\nend = time.process_time() + {cpu_s}\\nwhile time.process_time() < end: pass\\n"

def lambda_handler(event, context):
    started = time.monotonic()
    children = [subprocess.Popen([sys.executable, "-c", SPIN.format(**event)]) for _ in range(event["processes"])]
    cpu = 0.0
    for child in children:
        _, _, usage = os.wait4(child.pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
    return {"cpu_s": cpu, "wall_s": time.monotonic() - started, "environment": os.environ["LOCALSTACK_RUNTIME_ID"]}
"""


def environment_cgroup(localstack_pid: int, environment: str, controller: str) -> Path:
    """The cgroup of one environment (``LOCALSTACK_RUNTIME_ID``) of the LocalStack ``localstack_pid``; LocalStack
    was started from this process, so its own cgroups are this process's."""
    parent = cgroups.own_cgroup(controller)
    assert parent is not None, f"no cgroup v1 {controller} hierarchy"
    return parent / cgroups.owner_cgroup_name(localstack_pid) / cgroups.environment_cgroup_name(environment)


# -- CPU -------------------------------------------------------------------------------------------------------
def test_an_environment_gets_at_most_one_core_by_default(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": BUSY}, memory_size=3008, timeout=120)
    seen = invoke(aws, name, {"processes": 3, "cpu_s": 0.5}).payload
    quota = environment_cgroup(embedded.pid, seen["environment"], "cpu")
    assert (quota / "cpu.cfs_quota_us").read_text().strip() == "100000"
    assert (quota / "cpu.cfs_period_us").read_text().strip() == "100000"
    # 3 busy processes on a 2-core host would use ~2 cores; the quota holds them to one (plus one period's slack).
    assert 1.5 <= seen["cpu_s"] <= 1.8, seen
    assert seen["cpu_s"] / seen["wall_s"] <= 1.15, seen


# -- memory: MemorySize for the function, /tmp apart -------------------------------------------------------------
MEMORY_AND_TMP = """
import os

HOARD = []

def lambda_handler(event, context):
    if event.get("tmp_mb"):
        with open("/tmp/fill", "wb") as f:
            for _ in range(event["tmp_mb"]):
                f.write(b"t" * (1 << 20))
    for _ in range(event["anon_mb"]):
        HOARD.append(bytearray(b"a" * (1 << 20)))
    stats = os.statvfs("/tmp")
    return {"tmp_mb": (stats.f_blocks - stats.f_bfree) * stats.f_frsize >> 20, "anon_mb": len(HOARD)}
"""


def test_memory_size_is_the_functions_memory_and_tmp_is_apart(aws, deploy_function):
    name = deploy_function({"lambda_function.py": MEMORY_AND_TMP}, memory_size=128, ephemeral_mb=1024, timeout=60)
    # AWS: /tmp is ephemeral storage, not memory: 600 MB of it next to 64 MB of memory in a 128 MB function is fine.
    filled = invoke(aws, name, {"tmp_mb": 600, "anon_mb": 64})
    assert filled.function_error is None, filled.payload
    assert filled.payload == {"tmp_mb": 600, "anon_mb": 64}
    # ... and 300 MB more of memory is over MemorySize, /tmp or not (the kernel's limit, 128 + 1024 MB, is not hit).
    result = invoke(aws, name, {"anon_mb": 300})
    assert result.function_error == "Unhandled", result.payload
    assert result.payload["errorType"] == "Runtime.ExitError"
    assert result.payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert invoke(aws, name, {"anon_mb": 8}).payload == {"tmp_mb": 0, "anon_mb": 8}, "a fresh environment"


# -- frozen between invocations ----------------------------------------------------------------------------------
TICKER = """
import os, threading, time

TICKS = 0

def tick():
    global TICKS
    while True:
        TICKS += 1
        with open("/tmp/ticks.part", "w") as f:
            f.write(str(TICKS))
        os.replace("/tmp/ticks.part", "/tmp/ticks")
        time.sleep(0.005)

def lambda_handler(event, context):
    if event.get("start"):
        threading.Thread(target=tick, daemon=True).start()
    time.sleep(0.2)
    return {"ticks": TICKS, "environment": os.environ["LOCALSTACK_RUNTIME_ID"]}
"""


def _ticks_file(localstack_pid: int, environment: str) -> Path:
    """The function's /tmp/ticks, read from the host through its runtime's root (root may)."""
    for pid in sandboxed_processes(localstack_pid, environment):
        candidate = Path(f"/proc/{pid}/root/tmp/ticks")
        if candidate.exists():
            return candidate
    raise AssertionError(f"no process of environment {environment} sees /tmp/ticks")


def test_the_environment_is_frozen_between_invocations(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": TICKER})
    first = invoke(aws, name, {"start": True}).payload
    assert first["ticks"] > 0, "the background thread runs during the invocation"
    freezer = environment_cgroup(embedded.pid, first["environment"], "freezer") / "freezer.state"
    assert wait_until(lambda: freezer.read_text().strip() == "FROZEN", timeout_s=10), freezer.read_text()
    ticks = _ticks_file(embedded.pid, first["environment"])
    before = int(ticks.read_text())
    time.sleep(0.5)  # 100 ticks' time for a thread that ran
    # AWS: nothing of the environment runs between invocations, not even a function's own threads.
    assert int(ticks.read_text()) == before
    second = invoke(aws, name, {}).payload
    assert second["environment"] == first["environment"], "the same (warm) environment"
    assert second["ticks"] > before, "thawed: the thread goes on where it stood"
    assert wait_until(lambda: freezer.read_text().strip() == "FROZEN", timeout_s=10), "frozen again"


# -- caps over all environments, and AWS's CPU share: a LocalStack of its own ------------------------------------
THREADS = """
import threading
def lambda_handler(event, context):
    stop, started, outcome = threading.Event(), [], "unbounded"
    for _ in range(2000):
        thread = threading.Thread(target=stop.wait, daemon=True)
        try:
            thread.start()
        except RuntimeError as error:
            outcome = str(error)
            break
        started.append(thread)
    stop.set()
    for thread in started:  # all gone before the answer: the environment is frozen after it
        thread.join()
    return {"started": len(started), "outcome": outcome}
"""
HOG = """
def lambda_handler(event, context):
    hoard = [bytearray(b"h" * (1 << 20)) for _ in range(event["mb"])]
    return len(hoard)
"""
CAPS = ResourceSettings(cpu="aws", max_processes=200, max_memory_mb=320)


@dataclass(frozen=True)
class Capped:
    """A LocalStack of its own, started with :data:`CAPS`, and its Lambda client (as ``aws.lambda_``)."""

    instance: EmbeddedLocalStack
    aws: SimpleNamespace

    def function(self, code: str, memory_size: int) -> str:
        return _function(self.aws.lambda_, code, memory_size)

    def invoke(self, name: str, event: Any) -> Invocation:
        return invoke(self.aws, name, event)


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capped]:
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path_factory.mktemp("capped"), resources=CAPS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDED_LAMBDA_SANDBOX", "bwrap")
        instance = start(settings)
    try:
        yield Capped(instance, SimpleNamespace(lambda_=lambda_client(instance.endpoint)))
    finally:
        stop(settings)


def _function(client: Any, code: str, memory_size: int) -> str:
    name = f"capped-{uuid.uuid4().hex[:8]}"
    client.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE_ARN, Timeout=120,
                           MemorySize=memory_size, Handler="lambda_function.lambda_handler",
                           Code={"ZipFile": build_zip({"lambda_function.py": code})})  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


def test_processes_of_all_environments_together_are_capped(capped):
    result = capped.invoke(capped.function(THREADS, 1024), {}).payload
    # Each environment may have 1,024 (AWS); all of this LocalStack's together 200 (EMBEDDED_LAMBDA_MAX_PROCESSES).
    assert result["outcome"] == "can't start new thread", result
    assert 100 < result["started"] < 200, result
    log = capped.instance.settings.log_file
    assert wait_until(lambda: "reached their cap of 200 processes/threads" in log.read_text(), timeout_s=10)


def test_memory_of_all_environments_together_is_capped(capped):
    name = capped.function(HOG, 1024)
    assert capped.invoke(name, {"mb": 32}).payload == 32
    result = capped.invoke(name, {"mb": 600})  # under its MemorySize, over all environments' 320 MB
    assert result.function_error == "Unhandled", result.payload
    assert result.payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    log = capped.instance.settings.log_file
    assert wait_until(lambda: "reached their cap of 320 MB of memory together" in log.read_text(), timeout_s=10)
    assert capped.invoke(name, {"mb": 32}).payload == 32, "a fresh environment serves the next invoke"


def test_cpu_in_proportion_to_memory_as_on_aws_when_asked(capped):
    seen = capped.invoke(capped.function(BUSY, 256), {"processes": 1, "cpu_s": 0.3}).payload
    # AWS: 1,769 MB is one vCPU, so 256 MB is 14.5 % of one (EMBEDDED_LAMBDA_CPU=aws).
    quota = environment_cgroup(capped.instance.pid, seen["environment"], "cpu") / "cpu.cfs_quota_us"
    assert quota.read_text().strip() == str(round(100_000 * 256 / 1769))
    assert seen["cpu_s"] / seen["wall_s"] <= 0.2, seen


# -- the settings ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("EMBEDDED_LAMBDA_CPU", "all", "EMBEDDED_LAMBDA_CPU must be one of core, aws, got 'all'"),
        ("EMBEDDED_LAMBDA_MAX_PROCESSES", "12", "EMBEDDED_LAMBDA_MAX_PROCESSES must be a whole number of at least 64"),
        ("EMBEDDED_LAMBDA_MAX_MEMORY_MB", "1G", "EMBEDDED_LAMBDA_MAX_MEMORY_MB must be a whole number, got '1G'"),
    ],
)
def test_bad_resource_settings_are_refused_before_localstack_starts(tmp_path, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    with pytest.raises(EmbeddedLocalStackError, match=message):
        start(settings)
    assert not settings.pid_file.exists(), "nothing was started"
    with pytest.raises(ValueError, match="at least 128"):
        ResourceSettings(max_memory_mb=64)
    assert ResourceSettings.from_environment({variable: ""}) == ResourceSettings(), "empty: the default"
