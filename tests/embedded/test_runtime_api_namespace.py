"""The Runtime API served at 127.0.0.1:9001 inside a sandbox's own network namespace (bwrap --unshare-net), from a
socket this process made there (service/netns.py): a runtime inside reaches it, the host's loopback has no such port."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from embedded_localstack.service.netns import listen_in_namespace
from embedded_localstack.service.runtime_api import SANDBOX_ADDRESS, Answer, Invocation, RuntimeApi
from embedded_localstack.service.sandbox import interpreter_prefix

pytestmark = pytest.mark.embedded

# A minimal runtime: AWS_LAMBDA_RUNTIME_API, three events, each answered with its payload reversed.
RUNTIME = """
import http.client, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=30)
for _ in range(3):
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    event = conn.getresponse()
    body, request_id = event.read(), event.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=body[::-1])
    assert conn.getresponse().read() == b'{"status": "OK"}'
"""


def socket_inodes_listening(table: Path) -> set[str]:
    rows = [line.split() for line in table.read_text().splitlines()[1:]]
    return {row[9] for row in rows if row[3] == "0A"}


def test_a_runtime_in_its_own_network_namespace_reaches_the_api_and_the_host_does_not():
    interpreter = Path(sys.executable).resolve()
    prefix = interpreter_prefix(interpreter)
    info_read, info_write = os.pipe()
    block_read, block_write = os.pipe()
    command = [
        "bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", "--ro-bind", str(prefix), str(prefix),
        "--setenv", "AWS_LAMBDA_RUNTIME_API", "{}:{}".format(*SANDBOX_ADDRESS),
        "--info-fd", str(info_write), "--block-fd", str(block_read), "--", str(interpreter), "-I", "-c", RUNTIME,
    ]  # fmt: skip
    process = subprocess.Popen(command, pass_fds=(info_write, block_read), stderr=subprocess.PIPE)
    os.close(info_write)
    os.close(block_read)
    api = None
    try:
        assert select.select([info_read], [], [], 15)[0], "bwrap did not report its sandbox"
        child = json.loads(os.read(info_read, 4096).split(b"}")[0] + b"}")["child-pid"]
        listener = listen_in_namespace(child, SANDBOX_ADDRESS)
        inode = str(os.fstat(listener.fileno()).st_ino)
        assert inode in socket_inodes_listening(Path(f"/proc/{child}/net/tcp"))
        assert inode not in socket_inodes_listening(Path("/proc/self/net/tcp"))
        api = RuntimeApi(listener)
        os.write(block_write, b"1")
        assert api.wait_for_init(15) is True
        for number in range(3):
            request_id = f"req-{number}"
            api.send(Invocation(request_id, f'"{number}-abc"'.encode(), 0, "arn:aws:lambda:us-east-1:0:function:f"))
            assert api.answer(request_id, 15) == Answer(f'"cba-{number}"'.encode())
        assert process.wait(timeout=15) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if api is not None:
            api.close()
        process.kill()
        process.wait()
        os.close(info_read)
        os.close(block_write)


def test_a_namespace_that_cannot_be_entered_is_a_clear_error():
    with pytest.raises(OSError, match="in the network namespace of 999999999"):
        listen_in_namespace(999999999, SANDBOX_ADDRESS)
