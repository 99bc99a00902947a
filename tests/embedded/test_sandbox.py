"""Hostile functions against the sandbox: each test is one thing a function must not do, asserted as AWS behaves.

Real embedded LocalStack (the session's, sandboxed: conftest.py sets EMBEDDED_LAMBDA_SANDBOX=bwrap), real
functions created with boto3, real invokes. AWS runs each execution environment in its own microVM; the
embedded executor runs it in bubblewrap (embedded_localstack/service/sandbox/, docs/embedded-mode.md).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from embedded_helpers import (
    HOST_SECRET_VALUE,
    HOST_SECRETS,
    REGION,
    ROLE_ARN,
    invoke,
    sandboxed_processes,
)
from support import alive, build_zip, wait_until, zip_entry

from embedded_localstack.control.lifecycle import PROCESS_MODULE, EmbeddedSettings, running_pid, start, stop
from embedded_localstack.control.ports import free_port
from embedded_localstack.control.processes import start_time
from embedded_localstack.errors import EmbeddedLocalStackError
from embedded_localstack.service.interpreters import InterpreterResolver
from embedded_localstack.service.sandbox import mode as sandbox_mode

pytestmark = pytest.mark.embedded

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_RESPONSE = 6291556

# -- 2. what a function sees ---------------------------------------------------------------------------------
SNOOP = """
import errno, os, pwd, sys

def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))

def lambda_handler(event, context):
    paths = event["host_paths"]
    return {
        "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"], "runtime_dir": os.environ["LAMBDA_RUNTIME_DIR"],
        "cwd": os.getcwd(), "executable": sys.executable,
        "write_task": attempt(lambda: open("/var/task/tampered.py", "w").write("x")),
        "chmod_task": attempt(lambda: os.chmod("/var/task/lambda_function.py", 0o777)),
        "write_runtime": attempt(lambda: open("/var/runtime/bootstrap.py", "a").write("x")),
        "write_tmp": attempt(lambda: open("/tmp/scratch", "w").write("x")),
        "opt": sorted(os.listdir("/opt")),
        "root": sorted(os.listdir("/")),
        "dev": sorted(os.listdir("/dev")),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "host_paths": {p: os.path.exists(p) for p in paths},
        "shadow": os.path.exists("/etc/shadow"),
        "capabilities": [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1],
        "hostname": os.uname().nodename,
        "user": pwd.getpwuid(os.getuid()).pw_name,
    }
"""


def test_function_sees_an_aws_execution_environment_and_nothing_of_the_host(aws, deploy_function, embedded):
    other = deploy_function({"lambda_function.py": "def lambda_handler(e, c):\n    return 1\n"})
    assert invoke(aws, other, {}).payload == 1
    state_dir = Path(embedded.settings.state_dir)  # holds every function's unpacked code
    host_paths = [str(REPO_ROOT), str(Path.home()), str(state_dir), "/work", "/root", "/etc/shadow"]
    name = deploy_function({"lambda_function.py": SNOOP})
    seen = invoke(aws, name, {"host_paths": host_paths}).payload

    # AWS: uid 993 (sbx_user1051), no capabilities, code read-only at /var/task, runtime at /var/runtime.
    assert (seen["uid"], seen["euid"], seen["gid"]) == (993, 993, 990)
    assert seen["user"] == "sbx_user1051"
    assert int(seen["capabilities"], 16) == 0
    assert seen["task_root"] == seen["cwd"] == "/var/task"
    assert seen["runtime_dir"] == "/var/runtime"
    assert seen["executable"].startswith("/var/lang/bin/python3.11")
    assert seen["write_task"] == seen["chmod_task"] == seen["write_runtime"] == "EROFS"
    assert seen["write_tmp"] == "ok"
    assert seen["opt"] == []
    assert {"var", "tmp", "opt", "proc", "dev", "usr", "etc"} <= set(seen["root"])
    assert not {"root", "home", "work", "srv", "mnt"} & set(seen["root"]), seen["root"]
    # Own pid namespace: bwrap's init and the runtime, nothing of LocalStack or other functions.
    assert seen["pids"] == [1, 2], seen["pids"]
    assert set(seen["dev"]) <= {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm",
                                "fd", "stdin", "stdout", "stderr", "core", "mqueue"}  # fmt: skip
    assert not any(seen["host_paths"].values()), seen["host_paths"]
    assert not seen["shadow"]
    assert not (REPO_ROOT / "tampered.py").exists()


def test_tmp_is_a_private_tmpfs_capped_at_ephemeral_storage(aws, deploy_function):
    code = """
import errno, os
def lambda_handler(event, context):
    written, chunk = 0, b"x" * (1 << 20)
    try:
        with open("/tmp/fill", "wb") as f:
            while written < event["limit_mb"] * 2 * (1 << 20):
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except OSError as error:
        result = errno.errorcode[error.errno]
    else:
        result = "no limit"
    os.remove("/tmp/fill")
    return {"result": result, "written_mb": written >> 20}
"""
    name = deploy_function({"lambda_function.py": code}, ephemeral_mb=600, memory_size=256, timeout=60)
    outcome = invoke(aws, name, {"limit_mb": 600}).payload
    # AWS: /tmp is EphemeralStorage.Size MB; writing past it fails with ENOSPC, the function lives on.
    assert outcome["result"] == "ENOSPC"
    assert 590 <= outcome["written_mb"] <= 600, outcome
    assert not Path("/tmp/fill").exists(), "the function's /tmp is not the host's"


# -- 3. secrets ----------------------------------------------------------------------------------------------
def test_no_host_secret_reaches_localstack_or_a_function(aws, deploy_function, embedded):
    localstack_environ = Path(f"/proc/{embedded.pid}/environ").read_bytes().split(b"\0")
    leaked = [entry for entry in localstack_environ if HOST_SECRET_VALUE.encode() in entry]
    assert not leaked, leaked
    code = """
import os
def lambda_handler(event, context):
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[entry] = open(f"/proc/{entry}/environ", "rb").read().decode(errors="replace")
            except OSError as error:
                found[entry] = str(error)
    return {"env": dict(os.environ), "proc_environ": found}
"""
    name = deploy_function({"lambda_function.py": code})
    seen = invoke(aws, name, {}).payload
    assert HOST_SECRET_VALUE not in json.dumps(seen)
    for variable in HOST_SECRETS:
        assert seen["env"].get(variable) != HOST_SECRET_VALUE
    # The function's credentials are LocalStack's assumed-role ones, as AWS hands it its execution role's.
    assert seen["env"]["AWS_ACCESS_KEY_ID"] and seen["env"]["AWS_SESSION_TOKEN"]


# -- 4. lifetime ---------------------------------------------------------------------------------------------
SPAWNER = """
import os, subprocess, time

def lambda_handler(event, context):
    # a new session, and a double fork whose grandchild is re-parented: neither is in the runtime's group
    subprocess.Popen(["/bin/sh", "-c", "sleep 300"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    os.wait()
    if event.get("hang"):
        time.sleep(300)
    return os.environ["LOCALSTACK_RUNTIME_ID"]
"""


def _environment_with_children(aws, deploy_function, embedded, **kwargs) -> tuple[str, set[int]]:
    name = deploy_function({"lambda_function.py": SPAWNER}, **kwargs)
    environment = invoke(aws, name, {}).payload
    processes = sandboxed_processes(embedded.pid, environment)
    # runtime + setsid child + double-forked grandchild (+ bwrap and pasta around them)
    assert len(processes) >= 4, processes
    return name, processes


@pytest.mark.parametrize("ending", ["timeout", "delete", "code_update"])
def test_every_process_of_an_environment_ends_with_it(aws, deploy_function, embedded, ending):
    name, processes = _environment_with_children(aws, deploy_function, embedded, timeout=2)
    if ending == "timeout":
        result = invoke(aws, name, {"hang": True})
        assert result.payload["errorType"] == "Sandbox.Timedout"
    elif ending == "delete":
        aws.lambda_.delete_function(FunctionName=name)
    else:
        aws.lambda_.update_function_code(FunctionName=name, ZipFile=build_zip({"lambda_function.py": SPAWNER + "\n"}))
        aws.lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert wait_until(lambda: not any(alive(p) for p in processes), timeout_s=15), (
        f"left after {ending}: {sorted(p for p in processes if alive(p))}"
    )
    # and reaped: no zombie (e.g. of the environment's pasta, a child of LocalStack) waits for the next start
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in processes), timeout_s=5), (
        f"zombies after {ending}: {sorted(p for p in processes if Path(f'/proc/{p}').exists())}"
    )


@pytest.mark.parametrize("ending", ["stop", "sigkill"])
def test_nothing_outlives_localstack(tmp_path, ending):
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDED_LAMBDA_SANDBOX", "bwrap")
        instance = start(settings)
    try:
        client = boto3.client("lambda", endpoint_url=instance.endpoint, region_name=REGION,
                              aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        name = f"outlive-{uuid.uuid4().hex[:8]}"
        client.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE_ARN, Timeout=10,
                               Handler="lambda_function.lambda_handler",
                               Code={"ZipFile": build_zip({"lambda_function.py": SPAWNER})})  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        environment = json.loads(client.invoke(FunctionName=name)["Payload"].read())
        processes = sandboxed_processes(instance.pid)
        assert len(sandboxed_processes(instance.pid, environment)) >= 4
    except BaseException:
        stop(settings)
        raise
    if ending == "stop":
        assert stop(settings) is True
    else:
        os.kill(instance.pid, signal.SIGKILL)
    assert wait_until(lambda: not any(alive(p) for p in processes), timeout_s=15), (
        f"left after {ending}: {sorted(p for p in processes if alive(p))}"
    )
    stop(settings)


# -- 5. limits -----------------------------------------------------------------------------------------------
def test_a_partial_frame_then_silence_times_out(aws, deploy_function):
    code = """
import os, socket, sys, time
from bootstrap import encode_frame  # the runtime's own frame format (/var/runtime is on sys.path)
def lambda_handler(event, context):
    channel = socket.socket(fileno=os.dup(int(sys.argv[1])))
    channel.sendall(encode_frame(b"S", context.aws_request_id, b"x" * 1000)[:100])
    time.sleep(300)
"""
    name = deploy_function({"lambda_function.py": code}, timeout=2)
    result = invoke(aws, name, {})
    # AWS: the invoke ends at the timeout, whatever the runtime does; the next invoke gets a fresh environment.
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in result.payload["errorMessage"]


def test_memory_size_is_enforced(aws, deploy_function):
    code = """
def lambda_handler(event, context):
    hoard = []
    for _ in range(event["mb"]):
        hoard.append(bytearray(1 << 20))
    return len(hoard)
"""
    name = deploy_function({"lambda_function.py": code}, memory_size=128, timeout=30)
    assert invoke(aws, name, {"mb": 64}).payload == 64
    result = invoke(aws, name, {"mb": 1024})
    # AWS: the environment is killed; "Runtime exited with error: signal: killed", Runtime.ExitError.
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Runtime.ExitError"
    assert result.payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert invoke(aws, name, {"mb": 8}).payload == 8, "a fresh environment serves the next invoke"


def test_response_over_six_megabytes_is_refused(aws, deploy_function):
    code = """
def lambda_handler(event, context):
    return "x" * event["size"]
"""
    name = deploy_function({"lambda_function.py": code}, memory_size=512)
    fits = invoke(aws, name, {"size": MAX_RESPONSE - 2})  # JSON quotes: exactly the limit
    assert fits.function_error is None and len(fits.payload) == MAX_RESPONSE - 2
    result = invoke(aws, name, {"size": 20 * 1024 * 1024})
    assert result.function_error == "Unhandled"
    assert result.payload == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }
    assert invoke(aws, name, {"size": 3}).payload == "xxx"


def test_invoke_payload_over_six_megabytes_is_refused(aws, deploy_function):
    name = deploy_function({"lambda_function.py": "def lambda_handler(e, c):\n    return len(e['x'])\n"})
    with pytest.raises(ClientError) as refused:
        aws.lambda_.invoke(FunctionName=name, Payload=json.dumps({"x": "y" * (7 * 1024 * 1024)}).encode())
    error = refused.value.response
    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "Request must be smaller than 6291556 bytes for the Invoke operation" in error["Error"]["Message"]


def test_process_count_is_bounded(aws, deploy_function):
    code = """
import threading, time
def lambda_handler(event, context):
    stop, started = threading.Event(), 0
    try:
        for _ in range(4000):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError as error:
        outcome = str(error)
    else:
        outcome = "unbounded"
    stop.set()
    return {"started": started, "outcome": outcome}
"""
    name = deploy_function({"lambda_function.py": code}, memory_size=1024, timeout=60)
    result = invoke(aws, name, {}).payload
    # AWS: 1024 processes/threads per execution environment.
    assert result["outcome"] == "can't start new thread", result
    assert 900 < result["started"] < 1024


# -- 6. network ----------------------------------------------------------------------------------------------
def test_function_reaches_localstack_but_nothing_reaches_its_listener(aws, deploy_function, embedded):
    class Quiet(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    host_service = HTTPServer(("127.0.0.1", 0), Quiet)  # another service on the host's loopback
    threading.Thread(target=host_service.serve_forever, daemon=True).start()
    code = """
import os, socket, urllib.request
LISTENER = socket.socket()
LISTENER.bind(("0.0.0.0", 0))
LISTENER.listen()

def lambda_handler(event, context):
    # an AWS API (Lambda's ListFunctions): LocalStack's own endpoints are refused to functions
    health = urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/2015-03-31/functions/", timeout=10).status
    try:
        socket.create_connection(("127.0.0.1", event["host_port"]), timeout=3).close()
        other = "reachable"
    except OSError as error:
        other = type(error).__name__
    return {"health": health, "port": LISTENER.getsockname()[1], "other": other}
"""
    try:
        name = deploy_function({"lambda_function.py": code})
        seen = invoke(aws, name, {"host_port": host_service.server_address[1]}).payload
    finally:
        host_service.shutdown()
    assert seen["health"] == 200, "AWS_ENDPOINT_URL works from inside"
    assert seen["other"] == "ConnectionRefusedError", "only LocalStack's gateway is forwarded, not the host"
    # AWS: no inbound connections. The listener is in the function's own network namespace: no socket on the
    # host listens on that port (so no interface of the host answers), and loopback refuses.
    host_listeners = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    assert f":{seen['port']:04X} 00000000:0000 0A" not in host_listeners
    assert f":{seen['port']:04X} 00000000000000000000000000000000:0000 0A" not in host_listeners
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", seen["port"]), timeout=3).close()


# -- 7. code unpacking ---------------------------------------------------------------------------------------
def _zip_with_symlink(name: str, target: str, extra: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo(name)
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, target)
        for entry, content in extra.items():
            archive.writestr(zip_entry(entry), content)
    return buffer.getvalue()


HANDLER = "def lambda_handler(e, c):\n    return open('data/link.txt').read()\n"


@pytest.mark.parametrize(
    "case",
    ["symlink_out", "symlink_dir_then_file", "dotdot_name", "absolute_name"],
)
def test_archive_entries_outside_the_code_dir_are_refused(aws, deploy_function, tmp_path, case):
    victim = tmp_path / "victim"
    victim.mkdir()
    if case == "symlink_out":
        archive = _zip_with_symlink("data/link.txt", "/etc/hostname", {"lambda_function.py": HANDLER})
    elif case == "symlink_dir_then_file":
        archive = _zip_with_symlink("escape", str(victim), {"escape/planted.txt": "pwned", "lambda_function.py": ""})
    else:
        entry = "../../../../../../tmp/planted-by-zip.txt" if case == "dotdot_name" else "/tmp/planted-by-zip.txt"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as writer:
            writer.writestr(zip_entry("lambda_function.py"), HANDLER)
            writer.writestr(zipfile.ZipInfo(entry), "pwned")  # ZipInfo keeps the name as given
        archive = buffer.getvalue()
    with pytest.raises(ClientError) as refused:
        deploy_function({}, zip_file=archive)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == "Could not unzip uploaded file. Please check your file, then try to upload again."
    assert not (victim / "planted.txt").exists()
    assert not Path("/tmp/planted-by-zip.txt").exists()


def test_symlinks_inside_the_code_dir_work_as_on_aws(aws, deploy_function):
    archive = _zip_with_symlink("data/link.txt", "../real.txt", {"lambda_function.py": HANDLER, "real.txt": "hi"})
    name = deploy_function({}, zip_file=archive)
    assert invoke(aws, name, {}).payload == "hi"


# -- 8. one launcher: start-up variables force a fresh process ----------------------------------------------
OBSERVE_START = """
def lambda_handler(event, context):
    with open("/proc/self/environ", "rb") as initial:
        return b"EMBEDDED_LAMBDA_SPARE=1" in initial.read().split(b"\\0")
"""


@pytest.mark.parametrize(
    ("variables", "spare_fits"),
    [
        ({"PLAIN": "1"}, True),
        ({"LD_PRELOAD": ""}, False),
        ({"GLIBC_TUNABLES": "glibc.malloc.mxfast=0"}, False),
        ({"MALLOC_ARENA_MAX": "2"}, False),
        ({"LC_ALL": "C.UTF-8"}, False),
        ({"AWS_LAMBDA_EXEC_WRAPPER": "/usr/bin/env"}, False),
    ],
)
def test_startup_variables_force_a_fresh_process(aws, deploy_function, embedded, variables, spare_fits):
    def idle_spare() -> bool:
        # The interpreter itself, not only its bwrap: the spare joins the pool once its sandbox is released.
        return any(
            f"/embedded-lambda-{embedded.pid}/spare-" in Path(f"/proc/{pid}/cgroup").read_text()
            and Path(f"/proc/{pid}/comm").read_text().startswith("python")
            for pid in sandboxed_processes(embedded.pid)
        )

    name = deploy_function({"lambda_function.py": OBSERVE_START}, environment=variables)
    assert wait_until(idle_spare, timeout_s=15), "no idle spare to choose from"
    assert invoke(aws, name, {}).payload is spare_fits


def test_loader_variables_reach_only_the_sandboxed_process(aws, deploy_function, embedded):
    """The loader's variables (LD_*, GLIBC_TUNABLES, ...) are set inside by bwrap: the host-side bwrap, which runs
    outside every namespace, never has them (a function's LD_PRELOAD must not load anything on the host)."""
    code = 'import os\n\ndef lambda_handler(event, context):\n    return os.environ.get("GLIBC_TUNABLES")\n'
    name = deploy_function({"lambda_function.py": code}, environment={"GLIBC_TUNABLES": "glibc.malloc.check=0"})
    assert invoke(aws, name, {}).payload == "glibc.malloc.check=0"
    host_side = [
        pid for pid in sandboxed_processes(embedded.pid) if Path(f"/proc/{pid}/comm").read_text().strip() == "bwrap"
    ]
    assert host_side, "no bwrap process found for the running environments"
    for pid in host_side:
        assert b"GLIBC_TUNABLES=" not in Path(f"/proc/{pid}/environ").read_bytes(), pid


# -- 9. never stop what we did not start ---------------------------------------------------------------------
def test_stop_never_signals_a_process_it_did_not_start(tmp_path):
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    settings.state_dir.mkdir(parents=True)
    # Someone else's process whose command line looks like ours (PID reuse after our LocalStack ended).
    impostor = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", PROCESS_MODULE], start_new_session=True
    )
    try:
        assert wait_until(lambda: PROCESS_MODULE.encode() in Path(f"/proc/{impostor.pid}/cmdline").read_bytes(), 5)
        real_start = start_time(impostor.pid)
        assert real_start is not None
        for record in (
            {"pid": impostor.pid, "start_time": real_start - 1},  # the recorded process started earlier
            {"pid": impostor.pid},  # no start time: not provably ours
        ):
            settings.pid_file.write_text(json.dumps(record))
            assert running_pid(settings) is None
            assert stop(settings) is False
            assert alive(impostor.pid), "stop signalled a process it did not start"
    finally:
        impostor.kill()
        impostor.wait()


# -- 10. permissions -----------------------------------------------------------------------------------------
def test_logs_and_state_are_private(aws, deploy_function, embedded):
    name = deploy_function({"lambda_function.py": "def lambda_handler(e, c):\n    print('secret-ish')\n"})
    invoke(aws, name, {})
    state = Path(embedded.settings.state_dir)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    for directory in (state, state / "tmp", state / "filesystem"):
        assert mode(directory) == 0o700, directory
    assert mode(embedded.settings.log_file) == 0o600
    assert mode(embedded.settings.pid_file) == 0o600
    logs = state / "tmp" / "embedded-lambda-logs"
    assert mode(logs) == 0o700
    environment_logs = list(logs.glob(f"{name}-*.log"))
    assert environment_logs and all(mode(log) == 0o600 for log in environment_logs)


# -- 1. the setting --------------------------------------------------------------------------------------------
def test_sandbox_setting(monkeypatch, capsys, tmp_path):
    assert sandbox_mode.resolve_mode({"EMBEDDED_LAMBDA_SANDBOX": "bwrap"}) == ("bwrap", None)
    assert sandbox_mode.resolve_mode({"EMBEDDED_LAMBDA_SANDBOX": "off"}) == ("off", None)
    with pytest.raises(ValueError, match="auto, bwrap, off"):
        sandbox_mode.resolve_mode({"EMBEDDED_LAMBDA_SANDBOX": "docker"})
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    mode, reason = sandbox_mode.resolve_mode({"EMBEDDED_LAMBDA_SANDBOX": "auto"})
    assert mode == "off" and "apt-get install bubblewrap" in reason
    with pytest.raises(sandbox_mode.SandboxUnavailableError, match="bubblewrap"):
        sandbox_mode.resolve_mode({"EMBEDDED_LAMBDA_SANDBOX": "bwrap"})
    # The harness's side of the fallback: a start that would run uncontained says so loudly.
    monkeypatch.setenv("EMBEDDED_LAMBDA_SANDBOX", "bwrap")
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    with pytest.raises(EmbeddedLocalStackError, match="bubblewrap"):
        start(settings)
    monkeypatch.setenv("EMBEDDED_LAMBDA_SANDBOX", "auto")
    from embedded_localstack.control import lifecycle

    lifecycle._warn_if_uncontained()
    assert "functions run UNCONTAINED" in capsys.readouterr().err


def test_auto_without_bubblewrap_falls_back_with_one_loud_warning(tmp_path, capfd):
    bin_dir = tmp_path / "bin"  # the host's commands and the runtime's interpreter, but no bwrap
    bin_dir.mkdir()
    for command in Path("/usr/bin").iterdir():
        if command.name != "bwrap":
            (bin_dir / command.name).symlink_to(command)
    (bin_dir / "python3.11").unlink(missing_ok=True)
    (bin_dir / "python3.11").symlink_to(InterpreterResolver().resolve("python3.11"))
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "ls")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDED_LAMBDA_SANDBOX", "auto")
        patch.setenv("PATH", str(bin_dir))
        instance = start(settings)
    try:
        assert "functions run UNCONTAINED" in capfd.readouterr().err, "the harness output warns"
        client = boto3.client("lambda", endpoint_url=instance.endpoint, region_name=REGION,
                              aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        name = f"fallback-{uuid.uuid4().hex[:8]}"
        code = "import os\ndef lambda_handler(e, c):\n    return os.environ['LAMBDA_TASK_ROOT']\n"
        client.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE_ARN,
                               Handler="lambda_function.lambda_handler",
                               Code={"ZipFile": build_zip({"lambda_function.py": code})})  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        task_root = json.loads(client.invoke(FunctionName=name)["Payload"].read())
        assert task_root != "/var/task" and Path(task_root).is_dir(), "served unsandboxed, from the host path"
        log = settings.log_file.read_text()
        assert log.count("functions run UNCONTAINED") == 1, "one warning in LocalStack's log"
    finally:
        stop(settings)


def test_exec_wrapper_runs_the_runtime(aws, deploy_function):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zip_entry("lambda_function.py"),
            "import os, sys\ndef lambda_handler(e, c):\n    return [os.environ.get('WRAPPED'), sys.argv[0]]\n",
        )
        wrapper = zipfile.ZipInfo("wrapper.sh")
        wrapper.create_system = 3
        wrapper.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(wrapper, '#!/bin/sh\nexport WRAPPED="yes $#"\nexec "$@"\n')
    # AWS: the runtime's start-up command is passed to the wrapper as arguments; the wrapper execs it.
    name = deploy_function(
        {}, zip_file=buffer.getvalue(), environment={"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}
    )
    wrapped, bootstrap = invoke(aws, name, {}).payload
    assert wrapped.startswith("yes ") and int(wrapped.split()[1]) >= 2
    assert bootstrap == "/var/runtime/bootstrap.py"
