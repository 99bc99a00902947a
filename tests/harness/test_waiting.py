"""eventually(): polls until a check holds, and fails saying what it waited for, how it ended and why."""

from __future__ import annotations

import pytest

from lambda_url_harness.waiting import EventuallyTimeout, eventually


def test_the_first_truthy_result_is_returned() -> None:
    answers = iter([None, {}, {"done": 1}])
    assert eventually(lambda: next(answers), timeout_s=10, interval_s=0.01) == {"done": 1}


def test_an_assert_or_a_missing_key_means_not_yet() -> None:
    calls: list[int] = []

    def check() -> bool:
        calls.append(1)
        assert len(calls) >= 2, "not yet"
        return {"k": True}["k" if len(calls) >= 3 else "missing"]

    assert eventually(check, timeout_s=10, interval_s=0.01) is True
    assert len(calls) == 3


def test_a_timeout_names_what_was_awaited_the_last_outcome_and_the_diagnostics() -> None:
    def check() -> None:
        raise AssertionError("no object yet")

    with pytest.raises(EventuallyTimeout) as error:
        eventually(check, timeout_s=0.2, interval_s=0.05, what="the result object", diagnostics=lambda: "LOG LINES")
    message = str(error.value)
    assert message.startswith("timed out after 0.2 s waiting for the result object (")
    assert "the last raised AssertionError: no object yet" in message
    assert message.endswith("\nLOG LINES")
    assert isinstance(error.value, AssertionError), "pytest reports it as a failed check"


def test_a_failing_diagnostic_does_not_hide_the_timeout() -> None:
    def broken() -> str:
        raise RuntimeError("LocalStack is gone")

    with pytest.raises(EventuallyTimeout, match=r"(?s)returned False.*could not collect diagnostics: RuntimeError"):
        eventually(lambda: False, timeout_s=0.1, interval_s=0.05, diagnostics=broken)


def test_other_errors_of_the_check_propagate_at_once() -> None:
    def check() -> None:
        raise ValueError("a bug in the check")

    with pytest.raises(ValueError, match="a bug in the check"):
        eventually(check, timeout_s=30)


def test_an_aws_not_found_means_not_yet_and_other_aws_errors_propagate() -> None:
    from botocore.exceptions import ClientError

    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "GetObject")

    answers = iter([error("NoSuchKey"), error("ResourceNotFoundException"), b"body"])

    def check() -> bytes:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert eventually(check, timeout_s=10, interval_s=0.01) == b"body"
    with pytest.raises(ClientError, match="AccessDenied"):
        eventually(lambda: (_ for _ in ()).throw(error("AccessDenied")), timeout_s=10)
