"""A pre-started spare process that adopts an environment is indistinguishable from a freshly spawned one.

embedded_localstack/service/spares.py: real LocalStack, real processes. The function reports what it sees; one
function is served by an adopted spare, the other (it sets LC_MESSAGES, so no spare fits) by a
fresh process, and everything the function can observe is compared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_helpers import invoke, sandboxed_processes
from support import alive, wait_until

pytestmark = pytest.mark.embedded

OBSERVE = """
import os, sys, time

print("init output reaches the log")

def lambda_handler(event, context):
    print("handler output reaches the log")
    with open("/proc/self/environ", "rb") as initial:
        started_as_spare = b"EMBEDDED_LAMBDA_SPARE=1" in initial.read().split(b"\\0")
    return {
        "started_as_spare": started_as_spare,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "argv_len": len(sys.argv),
        "tzname": list(time.tzname),
        "localtime_offset": time.localtime().tm_gmtoff,
        "modules": sorted(sys.modules),
        "stdout": os.readlink("/proc/self/fd/1"),
        "stderr": os.readlink("/proc/self/fd/2"),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "sid": os.getsid(0),
        "environment": os.environ["LOCALSTACK_RUNTIME_ID"],
    }
"""


def idle_spares(localstack_pid: int) -> set[int]:
    """Processes of spares not yet adopted: in a ``spare-*`` cgroup (renamed to the environment's on adoption)."""
    found = set()
    for pid in sandboxed_processes(localstack_pid):
        try:
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        if f"/embedded-lambda-{localstack_pid}/spare-" in cgroups:
            found.add(pid)
    return found


def test_adopted_spare_sees_exactly_what_a_fresh_process_sees(aws, deploy_function, embedded):
    adopted_name = deploy_function({"lambda_function.py": OBSERVE}, environment={"MARK": "adopted"})
    assert wait_until(lambda: bool(idle_spares(embedded.pid)), timeout_s=10), "no spare was started for python3.11"
    adopted = invoke(aws, adopted_name, {})
    # An LC_* variable the spare was not started with: the interpreter reads the locale variables at start-up,
    # so this one is spawned afresh (LC_MESSAGES leaves the LC_CTYPE locale, and so its coercion, as it is).
    fresh_name = deploy_function({"lambda_function.py": OBSERVE}, environment={"MARK": "fresh", "LC_MESSAGES": "C"})
    fresh = invoke(aws, fresh_name, {})
    assert adopted.function_error is None and fresh.function_error is None, (adopted.payload, fresh.payload)
    seen, baseline = adopted.payload, fresh.payload

    assert seen["started_as_spare"] is True
    assert baseline["started_as_spare"] is False
    # Environment replaced wholesale: same variables as a fresh process (incl. what locale coercion adds).
    assert "EMBEDDED_LAMBDA_SPARE" not in seen["env"]
    assert set(seen["env"]) == set(baseline["env"]) - {"LC_MESSAGES"}
    assert seen["env"]["MARK"] == "adopted"
    assert seen["env"].get("LC_CTYPE") == baseline["env"].get("LC_CTYPE")
    for facts in (seen, baseline):
        task_root = facts["env"]["LAMBDA_TASK_ROOT"]
        assert facts["cwd"] == task_root
        assert facts["sys_path"][0] == task_root
        assert facts["sys_path"][4] == facts["env"]["LAMBDA_RUNTIME_DIR"]
        assert facts["cwd"] == "/var/task"
        assert facts["stdout"] == facts["stderr"]
        assert facts["stdout"].startswith("pipe:")  # the environment's output pipe, pumped by the executor
    assert seen["sys_path"][1:] == baseline["sys_path"][1:]  # layers, runtime packages, runtime, stdlib
    # same place in the same sandbox shape: pid namespace, session, process group
    assert (seen["pid"], seen["pgid"], seen["sid"]) == (baseline["pid"], baseline["pgid"], baseline["sid"])
    assert seen["argv_len"] == baseline["argv_len"]
    assert (seen["tzname"], seen["localtime_offset"]) == (baseline["tzname"], baseline["localtime_offset"])
    assert seen["modules"] == baseline["modules"]  # nothing left over from the spare's wait
    assert "handler output reaches the log" in adopted.log_tail
    assert "Init Duration" in adopted.log_tail


def test_spare_is_not_a_function_process(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": OBSERVE})
    assert wait_until(lambda: bool(idle_spares(embedded.pid)), timeout_s=10)
    served_by = sandboxed_processes(embedded.pid, invoke(aws, name, {}).payload["environment"])
    assert served_by
    assert wait_until(lambda: bool(idle_spares(embedded.pid)), timeout_s=10), "no new spare after one was adopted"
    waiting = idle_spares(embedded.pid)
    assert not served_by & waiting
    aws.lambda_.delete_function(FunctionName=name)
    assert wait_until(lambda: not any(alive(p) for p in served_by), timeout_s=10), "adopted spare survived delete"
    assert all(alive(pid) for pid in waiting), "deleting a function must not end the idle spare"
