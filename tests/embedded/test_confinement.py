"""Hostile functions against what surrounds the sandbox: the host-side processes, the kernel, the host uid.

Real launches and real embedded LocalStack (the session's, sandboxed; LocalStack runs as root here, so functions run
as the unprivileged host user behind uid 993 and under the seccomp filter: embedded_localstack/service/sandbox/
hostside.py, seccomp.py). AWS runs each execution environment in its own microVM: nothing a function sets or calls
reaches the host's kernel state or its processes.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import pwd
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from embedded_helpers import create_function, invoke, lambda_client, sandboxed_processes

from embedded_localstack.control.lifecycle import EmbeddedSettings, running_pid, start, stop
from embedded_localstack.control.ports import free_port
from embedded_localstack.errors import EmbeddedLocalStackError
from embedded_localstack.service.interpreters import InterpreterResolver
from embedded_localstack.service.sandbox import mode as sandbox_mode
from embedded_localstack.service.sandbox.cgroups import Cgroup, end_leftovers
from embedded_localstack.service.sandbox.hostside import DEFAULT_HOST_USER, HOST_USER_VARIABLE
from embedded_localstack.service.sandbox.launch import end_environment, launch
from embedded_localstack.service.sandbox.layout import LaunchSpec, base_environment
from embedded_localstack.service.sandbox.seccomp import SYSCALLS, machine

pytestmark = pytest.mark.embedded

# -- 1. the host side never sees function input ------------------------------------------------------------------
LAUNCH_WITH_A_HOSTILE_VARIABLE = r"""
import dataclasses, json, os, socket, subprocess, sys, uuid
from pathlib import Path
from embedded_localstack.runtime.bootstrap import FRAME_HEADER_BYTES, INVOKE, encode_frame, frame_sizes
from embedded_localstack.service.interpreters import InterpreterResolver
from embedded_localstack.service.sandbox.cgroups import Cgroup, end_leftovers
from embedded_localstack.service.sandbox.launch import end_environment, launch
from embedded_localstack.service.sandbox.layout import LaunchSpec, base_environment
from embedded_localstack.service.sandbox.mode import resolve_confinement

code_dir, marker, output_file = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
hostile = {"BASH_FUNC_echo%%": f'() {{ touch {marker}; builtin echo "$@"; }}'}
# The attack works here: this /bin/sh (bash) runs a function named like a builtin from the environment.
subprocess.run(["/bin/sh", "-c", "echo probe >/dev/null"], env=hostile, check=True, timeout=30)
control = marker.exists()
marker.unlink(missing_ok=True)

gateway = socket.create_server(("127.0.0.1", 0))  # pasta's forwarded port: its shell prefix runs too
interpreter = InterpreterResolver().resolve("python3.11")
ours, theirs = socket.socketpair()
spec = LaunchSpec(True, "python3.11", interpreter, code_dir, theirs.fileno(),
                  gateway_port=gateway.getsockname()[1], confinement=resolve_confinement())
environment = {**base_environment(True, "python3.11", code_dir, interpreter), **hostile,
               "_HANDLER": "lambda_function.lambda_handler", "LAMBDA_TASK_ROOT": "/var/task",
               "LAMBDA_RUNTIME_DIR": "/var/runtime"}
cgroup = Cgroup(f"env-hostile-{uuid.uuid4().hex[:8]}")
with open(output_file, "wb") as output:
    process = launch(spec, environment, output, cgroup)
theirs.close()
reader = ours.makefile("rb")

def frame():
    kind, id_length, body_length = frame_sizes(reader.read(FRAME_HEADER_BYTES))
    reader.read(id_length)
    return kind, reader.read(body_length)

try:
    ready = frame()[0]
    ours.sendall(encode_frame(INVOKE, "r-1", json.dumps({"invoke-id": "r-1", "payload": "{}"}).encode()))
    seen = json.loads(frame()[1])
finally:
    end_environment("hostile", process, cgroup, None, ours)
    end_leftovers(os.getpid(), grace_s=0)
print(json.dumps({"control": control, "ready": ready.decode(), "seen": seen, "ran_on_host": marker.exists()}))
"""


def test_a_hostile_variable_name_runs_nothing_on_the_host_whose_sh_is_bash(tmp_path):
    """The launcher itself, below the API's name validation: ``BASH_FUNC_echo%%`` reaches the function only, never
    the host-side shell (here bash, bound over /bin/sh in a private mount namespace), pasta or bwrap."""
    code_dir = tmp_path / "code"
    code_dir.mkdir(mode=0o755)
    (code_dir / "lambda_function.py").write_text(
        "import os\ndef lambda_handler(event, context):\n"
        "    return {'variable': os.environ.get('BASH_FUNC_echo%%'), 'uid': os.getuid()}\n"
    )
    marker, output = tmp_path / "ran-on-the-host", tmp_path / "output.log"
    bash_as_sh = 'mount --bind /bin/bash /bin/sh && exec "$@"'
    completed = subprocess.run(
        ["unshare", "--mount", "--", "/bin/sh", "-c", bash_as_sh, "sh", sys.executable, "-c",
         LAUNCH_WITH_A_HOSTILE_VARIABLE, str(code_dir), str(marker), str(output)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:] + output.read_text(errors="replace")[-2000:]
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["control"] is True, "bash over /bin/sh must honour the variable, or this test proves nothing"
    assert result["ready"] == "R", output.read_text(errors="replace")
    assert result["seen"] == {"variable": f'() {{ touch {marker}; builtin echo "$@"; }}', "uid": 993}
    assert result["ran_on_host"] is False, "the function's variable ran shell code on the host"


# -- 2. no host kernel state -------------------------------------------------------------------------------------
KERNEL = r"""
import ctypes, errno, mmap, os, signal, subprocess, threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def call(number, *args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def in_child(action):
    # exit 0: refused (EPERM), 1: it ran, 2: other error; or the signal that killed the child
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            outcome = action()
            code = 0 if outcome == "EPERM" else 1 if outcome == "ok" else 2
        finally:
            os._exit(code)
    status = os.waitpid(pid, 0)[1]
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def int80():
    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")  # mov eax, 20 (i386 getpid); int 0x80; ret
    address = ctypes.addressof(ctypes.c_char.from_buffer(code))
    return ctypes.CFUNCTYPE(ctypes.c_int)(address)()


def lambda_handler(event, context):
    nr = event["numbers"]
    seen = {
        "keyctl_get_user_keyring": call(nr["keyctl"], 0, -4, 0),
        "keyctl_join_root_keyring": call(nr["keyctl"], 1, b"_uid.0"),
        "add_key": call(nr["add_key"], b"user", b"planted", b"x", 1, -3),
        "request_key": call(nr["request_key"], b"user", b"_uid.0", 0, 0),
        "ptrace_traceme": call(nr["ptrace"], 0, 0, 0, 0),
        "process_vm_readv": call(nr["process_vm_readv"], 1, 0, 0, 0, 0, 0),
        "bpf": call(nr["bpf"], 5, 0, 0),
        "perf_event_open": call(nr["perf_event_open"], 0, 0, -1, -1, 0),
        "userfaultfd": call(nr["userfaultfd"], 0),
        "mount": call(nr["mount"], b"none", b"/tmp", b"tmpfs", 0, 0),
        "umount2": call(nr["umount2"], b"/tmp", 0),
        "pivot_root": call(nr["pivot_root"], b"/tmp", b"/tmp"),
        "fsopen": call(nr["fsopen"], b"tmpfs", 0),
        "open_tree": call(nr["open_tree"], -100, b"/", 1),
        "unshare_user": call(nr["unshare"], 0x10000000),
        "unshare_mount": call(nr["unshare"], 0x20000),
        "setns": call(nr["setns"], 0, 0),
        "clone3": call(nr["clone3"], 0, 0),
        "clone_new_user": in_child(lambda: call(nr["clone"], 0x10000000 | 17, 0, 0, 0, 0)),
        "init_module": call(nr["init_module"], 0, 0, b""),
        "kexec_load": call(nr["kexec_load"], 0, 0, 0, 0),
        "reboot": call(nr["reboot"], 0xFEE1DEAD, 672274793, 0, 0),
        "swapon": call(nr["swapon"], b"/tmp/swap", 0),
        "settimeofday": call(nr["settimeofday"], 0, 0),
        "clock_settime": call(nr["clock_settime"], 0, 0),
        "open_by_handle_at": call(nr["open_by_handle_at"], -1, 0, 0),
        "acct": call(nr["acct"], 0),
        "quotactl": call(nr["quotactl"], 0, 0, 0, 0),
        "syslog": call(nr["syslog"], 10, 0, 0),
        "io_uring_setup": call(nr["io_uring_setup"], 1, 0),
        "personality_no_aslr": call(nr["personality"], 0x0040000),
        "personality_query": call(nr["personality"], 0xFFFFFFFF),
        "proc_keys": open("/proc/keys").read(),
    }
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    seen["thread"] = "ok"
    seen["subprocess"] = subprocess.run(["/bin/true"], check=False).returncode
    seen["fork"] = in_child(lambda: "ok")
    if os.uname().machine == "x86_64":
        seen["x32_getpid"] = in_child(lambda: call(0x40000000 + 39))
        seen["int80_getpid"] = in_child(int80)
    return seen
"""
REFUSED = [
    "keyctl_get_user_keyring", "keyctl_join_root_keyring", "add_key", "request_key", "ptrace_traceme",
    "process_vm_readv", "bpf", "perf_event_open", "userfaultfd", "mount", "umount2", "pivot_root", "fsopen",
    "open_tree", "unshare_user", "unshare_mount", "setns", "init_module", "kexec_load", "reboot", "swapon",
    "settimeofday", "clock_settime", "open_by_handle_at", "acct", "quotactl", "syslog", "io_uring_setup",
    "personality_no_aslr",
]  # fmt: skip


def _keyctl(*args: int | bytes) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return result


def test_a_function_reaches_no_host_kernel_state(aws, deploy_function):
    numbers = SYSCALLS[machine()]
    # A key of root's on the host (this test runs as root): before, uid 993 was root outside, /proc/keys listed
    # root's keys and keyctl linked root's _uid.0 keyring into the function's session.
    description = f"embedded-test-{uuid.uuid4().hex[:8]}".encode()
    key = _keyctl(numbers["add_key"], b"user", description, b"host-secret", 11, -4)  # KEY_SPEC_USER_KEYRING
    try:
        name = deploy_function({"lambda_function.py": KERNEL})
        seen = invoke(aws, name, {"numbers": dict(numbers)}).payload
    finally:
        _keyctl(numbers["keyctl"], 21, key)  # KEYCTL_INVALIDATE: the key this test made
    assert isinstance(seen, dict) and "proc_keys" in seen, seen  # the function survived its own calls
    # As Docker's default profile answers them: EPERM; clone3 ENOSYS (the C library falls back to clone).
    assert {call: seen[call] for call in REFUSED} == dict.fromkeys(REFUSED, "EPERM"), seen
    assert seen["clone_new_user"] == 0, "clone with CLONE_NEWUSER is refused"
    assert seen["clone3"] == "ENOSYS"
    assert seen["personality_query"] == "ok"
    assert description.decode() not in seen["proc_keys"]
    assert "_uid.0" not in seen["proc_keys"], "root's user keyring is visible"
    # What functions do stays possible: threads, fork, subprocesses.
    assert (seen["thread"], seen["subprocess"], seen["fork"]) == ("ok", 0, 1)
    if machine() == "x86_64":  # another ABI's system call: the process is killed (SIGSYS)
        assert seen["x32_getpid"] == seen["int80_getpid"] == -31, seen


# -- 3. an unprivileged host uid behind 993 ----------------------------------------------------------------------
def test_every_process_of_an_environment_is_the_unprivileged_host_user(aws, deploy_function, embedded):
    code = "import os\ndef lambda_handler(e, c):\n    return [os.getuid(), os.environ['LOCALSTACK_RUNTIME_ID']]\n"
    name = deploy_function({"lambda_function.py": code})
    uid, environment = invoke(aws, name, {}).payload
    assert uid == 993
    processes = sandboxed_processes(embedded.pid, environment)
    assert len(processes) >= 4, processes  # bwrap, the sandbox's pid 1, the runtime, pasta

    def host_ids(pid: int) -> tuple[set[int], set[int], str]:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        return {int(x) for x in status["Uid"].split()}, {int(x) for x in status["Gid"].split()}, comm

    seen = {pid: host_ids(pid) for pid in processes}
    commands = {comm for _, _, comm in seen.values()}
    assert {"bwrap", "python3.11"} <= commands, commands
    assert any(comm.startswith("pass") for comm in commands), commands  # pasta (passt, or passt.avx2)
    for pid, (uids, gids, comm) in seen.items():
        # real, effective, saved and file-system ids: none is root (the default user: owns nothing here)
        assert (uids, gids) == ({DEFAULT_HOST_USER[0]}, {DEFAULT_HOST_USER[1]}), (pid, comm, uids, gids)
    with pytest.raises(KeyError):
        pwd.getpwuid(DEFAULT_HOST_USER[0])


def test_the_host_user_is_chosen_with_a_setting_and_a_bad_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDED_LAMBDA_SANDBOX", "bwrap")
    for bad in ("0:0", "1000", "user:group", "1900000993:0"):
        monkeypatch.setenv(HOST_USER_VARIABLE, bad)
        settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / f"refused-{len(bad)}")
        with pytest.raises(EmbeddedLocalStackError, match=HOST_USER_VARIABLE):
            start(settings)
        assert running_pid(settings) is None
    monkeypatch.setenv(HOST_USER_VARIABLE, "1900001993:1900001990")
    settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "chosen")
    instance = start(settings)
    try:
        client = lambda_client(instance.endpoint)
        name = f"host-user-{uuid.uuid4().hex[:8]}"
        code = "import os\ndef lambda_handler(e, c):\n    return [os.getuid(), os.environ['LOCALSTACK_RUNTIME_ID']]\n"
        create_function(client, name, {"lambda_function.py": code})
        uid, environment = json.loads(client.invoke(FunctionName=name)["Payload"].read())
        assert uid == 993
        runtimes = [pid for pid in sandboxed_processes(instance.pid, environment)
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "python3.11"]  # fmt: skip
        assert runtimes
        for pid in runtimes:
            assert Path(f"/proc/{pid}/status").read_text().count("1900001993") == 4, pid  # real ... file-system
    finally:
        stop(settings)


def test_without_a_seccomp_filter_993_maps_to_root_and_pasta_still_connects(tmp_path, monkeypatch, caplog):
    """On an architecture whose system call numbers are not known here there is no filter: bwrap keeps its nested
    user namespace, which pasta can only enter as root, so the host user is not used (logged)."""
    monkeypatch.setattr(sandbox_mode, "filter_for", lambda arch: None)  # this machine's numbers are known
    with caplog.at_level(logging.WARNING):
        confinement = sandbox_mode.resolve_confinement()
    assert (confinement.user, confinement.stage, confinement.seccomp) == (None, None, None)
    assert "uid 993 maps to root on the host" in caplog.text
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "lambda_function.py").write_text("def lambda_handler(e, c):\n    return 1\n")
    interpreter = InterpreterResolver().resolve("python3.11")
    gateway = socket.create_server(("127.0.0.1", 0))
    ours, theirs = socket.socketpair()
    spec = LaunchSpec(True, "python3.11", interpreter, code_dir, theirs.fileno(),
                      gateway_port=gateway.getsockname()[1], confinement=confinement)  # fmt: skip
    environment = {**base_environment(True, "python3.11", code_dir, interpreter),
                   "_HANDLER": "lambda_function.lambda_handler", "LAMBDA_TASK_ROOT": "/var/task",
                   "LAMBDA_RUNTIME_DIR": "/var/runtime"}  # fmt: skip
    cgroup = Cgroup(f"env-unfiltered-{uuid.uuid4().hex[:8]}")
    process = None
    try:
        process = launch(spec, environment, subprocess.DEVNULL, cgroup)  # raises if pasta cannot connect
        theirs.close()
        ours.settimeout(30)
        assert ours.recv(1) == b"R"  # the runtime's ready frame
    finally:
        theirs.close()
        end_environment("unfiltered", process, cgroup, None, ours)
        end_leftovers(os.getpid(), grace_s=0)
        gateway.close()
