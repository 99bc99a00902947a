"""AWS's Lambda Runtime API (service/runtime_api.py) over real loopback sockets, answered as AWS's init answers."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from embedded_localstack.service.runtime_api import Answer, Invocation, RuntimeApi, loopback_listener

BASE = "/2018-06-01/runtime"


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    server = RuntimeApi(loopback_listener(), max_response_bytes=1000)
    yield server
    server.close()


def connect(api: RuntimeApi) -> http.client.HTTPConnection:
    host, port = api.address
    return http.client.HTTPConnection(host, port, timeout=10)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None, **headers: str):
    conn.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def invocation(request_id: str = "req-1", payload: bytes = b'{"number": 6}') -> Invocation:
    return Invocation(
        request_id, payload, 1700000000123, "arn:aws:lambda:us-east-1:000000000000:function:f", "Root=1-a"
    )


def next_event(api: RuntimeApi, conn: http.client.HTTPConnection, event: Invocation):
    """GET next from a thread (it blocks until the executor sends), then send the event."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(request(conn, "GET", f"{BASE}/invocation/next")))
    thread.start()
    assert api.wait_for_init(5) is True
    api.send(event)
    thread.join(10)
    return result[0]


def test_next_carries_the_event_and_awss_headers_and_the_answer_is_bound_to_its_id(api):
    conn = connect(api)
    event = Invocation("req-1", b'{"number": 6}', 1700000000123, "arn:aws:lambda:us-east-1:0:function:f", "Root=1-a",
                       client_context='{"custom": {}}', cognito_identity='{"cognitoIdentityId": "x"}')  # fmt: skip
    status, headers, body = next_event(api, conn, event)
    assert (status, body) == (200, b'{"number": 6}')
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1700000000123"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == "arn:aws:lambda:us-east-1:0:function:f"
    assert headers["Lambda-Runtime-Trace-Id"] == "Root=1-a"
    assert headers["Lambda-Runtime-Client-Context"] == '{"custom": {}}'
    assert headers["Lambda-Runtime-Cognito-Identity"] == '{"cognitoIdentityId": "x"}'
    assert headers["Content-Type"] == "application/json"
    assert api.answer("req-1", 0.05) is None  # nothing yet
    status, _, body = request(conn, "POST", f"{BASE}/invocation/req-1/response", b'{"result": 36}')
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    assert api.answer("req-1", 5) == Answer(b'{"result": 36}')


def test_empty_headers_are_left_out(api):
    _, headers, _ = next_event(api, connect(api), invocation())
    assert "Lambda-Runtime-Client-Context" not in headers and "Lambda-Runtime-Cognito-Identity" not in headers


def test_an_answer_for_another_request_is_invalid_request_id(api):
    conn = connect(api)
    next_event(api, conn, invocation("req-1"))
    status, _, body = request(conn, "POST", f"{BASE}/invocation/other/response", b"{}")
    assert (status, json.loads(body)) == (400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
    assert api.answer("other", 0.05) is None
    assert request(conn, "POST", f"{BASE}/invocation/req-1/response", b"1")[0] == 202  # the real one still counts
    assert api.answer("req-1", 5) == Answer(b"1")


def test_a_second_answer_for_one_request_is_refused_as_aws_does(api):
    conn = connect(api)
    next_event(api, conn, invocation("req-1"))
    assert request(conn, "POST", f"{BASE}/invocation/req-1/response", b"1")[0] == 202
    status, _, body = request(conn, "POST", f"{BASE}/invocation/req-1/error", b"{}")
    assert status == 403
    assert json.loads(body) == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationErrorResponse failed for "
        "runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    assert api.answer("req-1", 5) == Answer(b"1")  # the first answer stands
    # once the runtime waits for its next event, an answer for the old request is for no current request
    waiting = connect(api)
    thread = threading.Thread(target=lambda: request(waiting, "GET", f"{BASE}/invocation/next"), daemon=True)
    thread.start()
    for _ in range(100):
        late = request(conn, "POST", f"{BASE}/invocation/req-1/response", b"2")
        if late[0] == 400:
            break
    assert late[0] == 400 and json.loads(late[2])["errorType"] == "InvalidRequestID"
    api.send(invocation("req-2"))
    thread.join(10)


def test_an_answer_before_any_invocation_is_an_invalid_state_transition(api):
    status, _, body = request(connect(api), "POST", f"{BASE}/invocation/req-1/response", b"{}")
    assert status == 403
    assert json.loads(body)["errorMessage"].startswith("State transition from Started to InvocationResponse failed")


def test_function_errors_keep_awss_error_types(api):
    conn = connect(api)
    for number, (given, kept) in enumerate(
        [
            ("Runtime.HandlerNotFound", "Runtime.HandlerNotFound"),
            ("TypeError", "Runtime.Unknown"),
            ("Function.lower", "Function.Unknown"),
            (None, "Runtime.Unknown"),
        ]
    ):
        request_id = f"req-{number}"
        next_event(api, conn, invocation(request_id))
        headers = {"Lambda_Runtime_Function_Error_Type": given} if given else {}
        body = b'{"errorType": "TypeError", "errorMessage": "boom", "trace": []}'
        assert request(conn, "POST", f"{BASE}/invocation/{request_id}/error", body, **headers)[0] == 202
        assert api.answer(request_id, 5) == Answer(body, True, kept)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_response_over_the_limit_is_413_and_the_invocation_gets_response_size_too_large(api, chunked):
    conn = connect(api)
    next_event(api, conn, invocation())
    body = b"x" * 1001
    if chunked:
        conn.putrequest("POST", f"{BASE}/invocation/req-1/response")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for start in range(0, len(body), 300):
            piece = body[start : start + 300]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        status, answer_body = response.status, response.read()
    else:
        status, _, answer_body = request(conn, "POST", f"{BASE}/invocation/req-1/response", body)
    assert status == 413
    assert json.loads(answer_body) == {
        "errorMessage": "Exceeded maximum allowed payload size (1000 bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    answer = api.answer("req-1", 5)
    assert answer is not None and answer.is_error and answer.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(answer.body)["errorMessage"].startswith("Response payload size exceeded maximum allowed")
    # the connection is still in step: the runtime carries on
    assert next_event(api, conn, invocation("req-2"))[0] == 200


def test_a_chunked_response_arrives_whole(api):
    conn = connect(api)
    next_event(api, conn, invocation())
    conn.putrequest("POST", f"{BASE}/invocation/req-1/response")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
    assert conn.getresponse().status == 202
    assert api.answer("req-1", 5) == Answer(b"abcde")


def test_init_error_is_reported_and_ends_the_runtimes_api(api):
    conn = connect(api)
    body = b'{"errorType": "Runtime.ImportModuleError", "errorMessage": "no module"}'
    error_type = {"Lambda_Runtime_Function_Error_Type": "Runtime.ImportModuleError"}
    status, _, reply = request(conn, "POST", f"{BASE}/init/error", body, **error_type)
    assert (status, json.loads(reply)) == (202, {"status": "OK"})
    assert api.wait_for_init(1) == Answer(body, True, "Runtime.ImportModuleError")
    status, _, reply = request(conn, "GET", f"{BASE}/invocation/next")
    assert status == 403
    assert json.loads(reply)["errorMessage"].startswith("State transition from InitError to Ready failed")


def test_init_error_after_the_init_is_refused(api):
    conn = connect(api)
    next_event(api, conn, invocation())
    status, _, reply = request(conn, "POST", f"{BASE}/init/error", b"{}")
    assert status == 403 and json.loads(reply)["errorType"] == "InvalidStateTransition"


def test_unknown_paths_and_methods(api):
    conn = connect(api)
    assert request(conn, "GET", "/2018-06-01/runtime/nope")[0] == 404
    assert request(conn, "GET", "/2020-01-01/runtime/invocation/next")[0] == 404
    assert request(conn, "POST", f"{BASE}/invocation/next")[0] == 405
    assert request(conn, "GET", f"{BASE}/invocation/req-1/response")[0] == 405


def test_bad_framing_gets_400_and_the_connection_closes(api):
    with socket.create_connection(api.address, timeout=10) as raw:
        raw.sendall(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400 ")
        assert raw.recv(100) == b""


def test_wait_for_init_times_out_while_the_runtime_initialises(api):
    assert api.wait_for_init(0.05) is None


def test_close_ends_a_waiting_next_and_the_listener(api):
    conn = connect(api)
    failures: list[BaseException] = []

    def wait_for_next() -> None:
        try:
            request(conn, "GET", f"{BASE}/invocation/next")
        except (OSError, http.client.HTTPException) as error:
            failures.append(error)

    thread = threading.Thread(target=wait_for_next)
    thread.start()
    assert api.wait_for_init(5) is True
    api.close()
    thread.join(10)
    assert not thread.is_alive() and failures  # the connection was closed, not answered
    with pytest.raises(OSError):
        socket.create_connection(api.address, timeout=2)
