"""The part of LocalStack's log a failed test's report shows: its Lambda lines since the test began."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lambda_url_harness.localstack_handle import LocalStackHandle
from lambda_url_harness.localstack_log import lambda_lines, read_log

LOG = """\
2026-12-08T02:59:45.549  WARN --- [  MainThread] localstack.deprecations    : TMPDIR is deprecated
2026-12-08T02:59:50.136  INFO --- [et.reactor-0] e.service.interpreters     : runtime python3.12 -> /usr/bin/python3.12
2026-12-08T02:59:58.100  INFO --- [et.reactor-2] localstack.request.aws     : AWS sqs.SendMessage => 200
2026-12-08T02:59:58.200  INFO --- [et.reactor-2] localstack.request.aws     : AWS lambda.GetFunction => 200
2026-12-08T02:59:59.014  INFO --- [-functhread5] e.service.executor         : executor e4: init failed: X
2026-12-08T02:59:59.051  WARN --- [-functhread5] l.s.l.e.pollers.sqs_poller : Polling or batch processing failed: boom
Traceback (most recent call last):
  File "poller.py", line 1, in poll
2026-12-08T03:00:01.000  INFO --- [et.reactor-1] localstack.request.aws     : AWS lambda.Invoke my-func => 200
2026-12-08T03:00:02.000  INFO --- [et.reactor-1] localstack.services.s3     : unrelated
"""


def test_only_entries_since_the_start_and_only_lambdas_with_their_continuation_lines(tmp_path: Path) -> None:
    (tmp_path / "localstack.log").write_text(LOG)
    handle = LocalStackHandle(source="embedded", endpoint="http://127.0.0.1:1", owned=False, state_dir=str(tmp_path))
    since = datetime.fromisoformat("2026-12-08T02:59:55").timestamp()
    lines = read_log(handle, since)
    assert lines is not None and lines[0].startswith("2026-12-08T02:59:58.100")
    assert lambda_lines(lines, ["my-func"]) == [
        LOG.splitlines()[4],
        LOG.splitlines()[5],
        "Traceback (most recent call last):",
        '  File "poller.py", line 1, in poll',
        LOG.splitlines()[8],  # a request line only because it names the function
    ]


def test_a_found_localstacks_log_is_not_ours_to_read() -> None:
    assert read_log(LocalStackHandle(source="external", endpoint="http://127.0.0.1:1", owned=False), 0.0) is None
