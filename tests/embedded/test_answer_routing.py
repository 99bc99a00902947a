"""Answers reach their own caller: every result and error frame carries its invoke's id.

Real embedded LocalStack, real hostile functions that write frames on the runtime's own channel (the runtime's frame
format, ``bootstrap.encode_frame``). Before the id, frames were matched to invokes by order: one extra result frame
shifted every later answer to the next caller (user B received user A's result). AWS's Runtime API refuses an
answer for another request id; here the environment that sends one ends and the waiting invoke gets an error.
"""

from __future__ import annotations

import pytest
from embedded_helpers import invoke

pytestmark = pytest.mark.embedded

FORGER = """
import json, os, socket, sys, time
from bootstrap import RESULT, encode_frame  # the runtime's frame format (/var/runtime is on sys.path)
CHANNEL = socket.socket(fileno=os.dup(int(sys.argv[1])))
STARTED = time.time()

def lambda_handler(event, context):
    forged = {"user": event["user"], "secret": "private to " + event["user"]}
    if event.get("answer_for") is not None:  # an answer carrying another request's id
        CHANNEL.sendall(encode_frame(RESULT, event["answer_for"], json.dumps(forged).encode()))
        time.sleep(5)
    if "extra" in event:  # one answer too many: its own id, then the runtime's answer follows
        CHANNEL.sendall(encode_frame(RESULT, context.aws_request_id, json.dumps(forged).encode()))
        time.sleep(event["extra"])
    return {"user": event["user"], "process_started": STARTED}
"""


def test_an_answer_with_another_request_id_ends_the_environment(aws, deploy_function):
    name = deploy_function({"lambda_function.py": FORGER}, timeout=30)
    before = invoke(aws, name, {"user": "A"}).payload
    result = invoke(aws, name, {"user": "A", "answer_for": "some-other-request"})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Runtime.ExitError"
    assert result.payload["errorMessage"] == (
        f"RequestId: {result.request_id} Error: Runtime sent an answer to another request instead of this "
        "request's answer"
    )
    assert "secret" not in str(result.payload)
    after = invoke(aws, name, {"user": "B"}).payload
    assert after["user"] == "B"
    assert after["process_started"] != before["process_started"], "the environment was replaced"


@pytest.mark.parametrize("pause_s", [0.0, 0.3, 1.0])
def test_an_extra_answer_never_reaches_the_next_caller(aws, deploy_function, pause_s):
    name = deploy_function({"lambda_function.py": FORGER}, timeout=30)
    first = invoke(aws, name, {"user": "A", "extra": pause_s})
    assert first.payload["user"] == "A"  # whichever of its two answers A got, both are A's own
    # B comes while A's second answer is on its way or already waiting: B never gets it.
    for user in ("B", "C", "D"):
        answer = invoke(aws, name, {"user": user})
        assert "private to A" not in str(answer.payload), answer.payload
        if answer.function_error is None:
            assert answer.payload["user"] == user
        else:
            assert answer.payload["errorType"] == "Runtime.ExitError", answer.payload
    assert invoke(aws, name, {"user": "E"}).payload["user"] == "E"
