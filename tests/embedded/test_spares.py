"""A pre-started spare process that adopts an environment is indistinguishable from a freshly spawned one.

embedded_localstack/spares.py: real LocalStack, real processes. The function reports what it sees; one
function is served by an adopted spare, the other (it sets LC_MESSAGES, so no spare fits) by a
fresh process, and everything the function can observe is compared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_helpers import invoke
from support import alive, wait_until

pytestmark = pytest.mark.embedded

SPARE_MARKER = b"EMBEDDED_LAMBDA_SPARE=1"

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
    }
"""


def idle_spares() -> set[int]:
    """Spare processes not yet adopted (started with the marker, still in the spare's working directory /)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                started_as_spare = SPARE_MARKER in (entry / "environ").read_bytes().split(b"\0")
                if started_as_spare and (entry / "cwd").readlink() == Path("/"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_adopted_spare_sees_exactly_what_a_fresh_process_sees(aws, deploy_function):
    adopted_name = deploy_function({"lambda_function.py": OBSERVE}, environment={"MARK": "adopted"})
    assert wait_until(lambda: bool(idle_spares()), timeout_s=10), "no spare was started for python3.11"
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
        assert facts["pgid"] == facts["pid"]  # own process group: a timeout or delete ends its children too
        assert facts["stdout"] == facts["stderr"]
        assert facts["stdout"].endswith(".log")
    assert seen["sys_path"][1:] == baseline["sys_path"][1:]  # layers, runtime packages, runtime, stdlib
    assert seen["argv_len"] == baseline["argv_len"]
    assert (seen["tzname"], seen["localtime_offset"]) == (baseline["tzname"], baseline["localtime_offset"])
    assert seen["modules"] == baseline["modules"]  # nothing left over from the spare's wait
    assert "handler output reaches the log" in adopted.log_tail
    assert "Init Duration" in adopted.log_tail


def test_spare_is_not_a_function_process(aws, deploy_function):
    name = deploy_function({"lambda_function.py": OBSERVE})
    assert wait_until(lambda: bool(idle_spares()), timeout_s=10)
    served_by = invoke(aws, name, {}).payload["pid"]
    assert wait_until(lambda: bool(idle_spares()), timeout_s=10), "no new spare after one was adopted"
    waiting = idle_spares()
    assert served_by not in waiting
    aws.lambda_.delete_function(FunctionName=name)
    assert wait_until(lambda: not alive(served_by), timeout_s=10), "the adopted process survived delete_function"
    assert all(alive(pid) for pid in waiting), "deleting a function must not end the idle spare"
