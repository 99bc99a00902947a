"""LocalStack's own log, where a LocalStack the harness knows keeps it, and the part of it about Lambda.

What a function's log group cannot show is here: an environment that failed to start, the event source mapping's
poller giving up on a batch, an invoke LocalStack refused. Readable for an embedded LocalStack (``localstack.log`` in
its state dir) and a Docker one (the container's output); a found (external) LocalStack's log is not ours to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import docker
from docker.errors import DockerException

from embedded_localstack.control.lifecycle import LOG_FILE
from lambda_url_harness.localstack_handle import LocalStackHandle

TAIL_BYTES = 4 * 1024 * 1024
"""How much of the end of an embedded LocalStack's log is read (it grows for the whole run)."""
ENTRY = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\s+(\w+)\s+---\s+\[[^\]]*\]\s+(\S+)\s*:\s?(.*)$")
"""``2026-12-08T02:59:59.014  INFO --- [-functhread5] e.service.executor : message`` (local time)."""
LAMBDA_LOGGERS = ("l.s.l.", "localstack.services.lambda_", "e.service.", "embedded_localstack.service.")
"""LocalStack's Lambda service (its invocation, event source mappings, pollers) and the embedded executor."""
REQUEST_LOGGER = "localstack.request."
"""One line per API call (``AWS sqs.GetQueueAttributes => 200``): kept only when it names a function."""


def read_log(handle: LocalStackHandle, since: float) -> list[str] | None:
    """The lines LocalStack logged from ``since`` (seconds since the epoch) on, or None when its log is not
    reachable (a found LocalStack, or a container that is gone)."""
    if handle.source == "docker" and handle.container_id:
        try:
            output = docker.from_env().containers.get(handle.container_id).logs(since=int(since))
        except DockerException:
            return None
        return list(_since(output.decode(errors="replace").splitlines(), since))
    if handle.state_dir is not None and (path := Path(handle.state_dir) / LOG_FILE).is_file():
        with path.open("rb") as log_file:
            size = log_file.seek(0, 2)
            log_file.seek(max(0, size - TAIL_BYTES))
            text = log_file.read().decode(errors="replace")
        return list(_since(text.splitlines(), since))
    return None


def _since(lines: Iterable[str], since: float) -> Iterator[str]:
    """The entries stamped at or after ``since`` (lines without a stamp belong to the entry above them)."""
    threshold = datetime.fromtimestamp(since).isoformat(timespec="milliseconds")
    keep = False
    for line in lines:
        match = ENTRY.match(line)
        if match:
            keep = match.group(1) >= threshold
        if keep:
            yield line


def lambda_lines(lines: Iterable[str], function_names: Iterable[str], limit: int = 60) -> list[str]:
    """The last ``limit`` lines of entries from LocalStack's Lambda loggers or naming one of ``function_names``
    (with the lines that continue them, e.g. a traceback)."""
    names = [name for name in function_names if name]
    kept: list[str] = []
    keep = False
    for line in lines:
        match = ENTRY.match(line)
        if match:
            logger, message = match.group(3), match.group(4)
            named = any(name in message for name in names)
            keep = named or (logger.startswith(LAMBDA_LOGGERS) and not logger.startswith(REQUEST_LOGGER))
        if keep:
            kept.append(line)
    return kept[-limit:]
