"""An interrupt of the harness reaches its Terraform command once, as Terraform expects, and is waited for.

Terraform stops gracefully on the first SIGINT (finishing what it must and writing its state) and aborts on a
second. The stand-in command below counts the SIGINTs it gets and takes a moment to "save its state" after the
first; the harness process (a real one, in its own session) is interrupted three times meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import wait_until

COMMAND = """
import pathlib, signal, sys, time
state = pathlib.Path(sys.argv[1])
received = []
signal.signal(signal.SIGINT, lambda *_: received.append(1))
(state.parent / "ready").touch()
while not received:
    time.sleep(0.05)
time.sleep(1.5)  # writing its state; more SIGINTs now would make Terraform abort
state.write_text(str(len(received)))
"""

HARNESS = """
import sys
import time
from pathlib import Path
from lambda_url_harness.terraform.runner import run_bounded
try:
    run_bounded([sys.executable, "-c", sys.argv[1], sys.argv[2]], Path.cwd(), {}, timeout_s=120)
except KeyboardInterrupt:
    print("interrupted, command waited for")
    sys.exit(130)
"""


def test_repeated_interrupts_reach_the_command_once_and_it_is_waited_for(tmp_path: Path) -> None:
    state = tmp_path / "state"
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, COMMAND, str(state)],
        cwd=tmp_path,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_until((tmp_path / "ready").exists, timeout_s=30), "the command never started"
        for _ in range(3):
            os.killpg(harness.pid, signal.SIGINT)  # the terminal's Ctrl-C: the harness's group only
            time.sleep(0.3)
        output, _ = harness.communicate(timeout=60)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
            harness.communicate()
    assert harness.returncode == 130, output
    assert "interrupted, command waited for" in output
    assert state.read_text() == "1", "the command got exactly one SIGINT and finished writing its state"
