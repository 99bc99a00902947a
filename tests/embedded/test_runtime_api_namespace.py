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
from embedded_localstack.service.sandbox.layout import interpreter_prefix

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


class Sandbox:
    """A bwrap sandbox with its own network namespace (held until released) and the Runtime API inside it."""

    def __init__(self, inside: list[str], extra: list[str] = ()) -> None:
        self.info_read, info_write = os.pipe()
        block_read, self.block_write = os.pipe()
        command = [
            "bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", *extra,
            "--setenv", "AWS_LAMBDA_RUNTIME_API", "{}:{}".format(*SANDBOX_ADDRESS),
            "--info-fd", str(info_write), "--block-fd", str(block_read), "--", *inside,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, pass_fds=(info_write, block_read), stderr=subprocess.PIPE)
        os.close(info_write)
        os.close(block_read)
        self.api: RuntimeApi | None = None

    def serve(self) -> tuple[RuntimeApi, int]:
        """The API listening inside the sandbox (and the listener's inode); the sandbox's process then starts."""
        assert select.select([self.info_read], [], [], 15)[0], "bwrap did not report its sandbox"
        self.child = json.loads(os.read(self.info_read, 4096).split(b"}")[0] + b"}")["child-pid"]
        listener = listen_in_namespace(self.child, SANDBOX_ADDRESS)
        self.api = RuntimeApi(listener)
        os.write(self.block_write, b"1")
        return self.api, os.fstat(listener.fileno()).st_ino

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
        self.process.kill()
        self.process.wait()
        os.close(self.info_read)
        os.close(self.block_write)


def test_a_runtime_in_its_own_network_namespace_reaches_the_api_and_the_host_does_not():
    interpreter = Path(sys.executable).resolve()
    prefix = str(interpreter_prefix(interpreter))
    sandbox = Sandbox([str(interpreter), "-I", "-c", RUNTIME], ["--ro-bind", prefix, prefix])
    try:
        api, inode = sandbox.serve()
        assert str(inode) in socket_inodes_listening(Path(f"/proc/{sandbox.child}/net/tcp"))
        assert str(inode) not in socket_inodes_listening(Path("/proc/self/net/tcp"))
        assert api.wait_for_init(15) is True
        for number in range(3):
            request_id = f"req-{number}"
            api.send(Invocation(request_id, f'"{number}-abc"'.encode(), 0, "arn:aws:lambda:us-east-1:0:function:f"))
            assert api.answer(request_id, 15) == Answer(f'"cba-{number}"'.encode())
        assert sandbox.process.wait(timeout=15) == 0, sandbox.process.stderr.read() if sandbox.process.stderr else ""
    finally:
        sandbox.close()


# AWS's custom runtime tutorial ("Building a custom runtime"), verbatim: a /bin/sh bootstrap using curl.
TUTORIAL_BOOTSTRAP = """#!/bin/sh
set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
"""
TUTORIAL_FUNCTION = """function handler () {
  EVENT_DATA=$1

  RESPONSE="Echoing request: '$EVENT_DATA'"
  echo $RESPONSE
}
"""


def tutorial_task_root(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    task.mkdir()
    (task / "bootstrap").write_text(TUTORIAL_BOOTSTRAP)
    (task / "function.sh").write_text(TUTORIAL_FUNCTION)
    (task / "bootstrap").chmod(0o755)
    return task


TASK_ARGS = ["--setenv", "LAMBDA_TASK_ROOT", "/var/task", "--setenv", "_HANDLER", "function.handler"]


def test_awss_shell_tutorial_bootstrap_runs_when_bin_sh_is_bash_as_on_amazon_linux(tmp_path):
    """Amazon Linux's /bin/sh is bash; the sandbox must give the bootstrap one (phase 2: this bind)."""
    task = tutorial_task_root(tmp_path)
    bash = ["--ro-bind", "/usr/bin/bash", "/usr/bin/sh", "--ro-bind", str(task), "/var/task", *TASK_ARGS]
    sandbox = Sandbox(["/var/task/bootstrap"], bash)
    try:
        api, _ = sandbox.serve()
        assert api.wait_for_init(15) is True
        for number in range(2):
            api.send(Invocation(f"req-{number}", b'{"n": %d}' % number, 0, "arn:aws:lambda:us-east-1:0:function:f"))
            assert api.answer(f"req-{number}", 15) == Answer(b"Echoing request: '{\"n\": %d}'" % number)
    finally:
        sandbox.close()


def test_the_tutorial_fails_on_debians_dash_which_is_why_the_sandbox_needs_bash(tmp_path):
    task = tutorial_task_root(tmp_path)
    sandbox = Sandbox(["/var/task/bootstrap"], ["--ro-bind", str(task), "/var/task", *TASK_ARGS])
    try:
        api, _ = sandbox.serve()
        assert api.wait_for_init(2) is None  # it never asks for an event
        assert sandbox.process.wait(timeout=15) != 0
        assert b"pipefail" in (sandbox.process.stderr.read() if sandbox.process.stderr else b"")
    finally:
        sandbox.close()


def test_a_namespace_that_cannot_be_entered_is_a_clear_error():
    with pytest.raises(OSError, match="in the network namespace of 999999999"):
        listen_in_namespace(999999999, SANDBOX_ADDRESS)
