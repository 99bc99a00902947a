"""An execution environment's output, bounded, and AWS's log lines around it (START, END, REPORT, INIT_REPORT).

Every process of an environment writes its stdout and stderr into one pipe (also C code and child processes).
The executor pumps that pipe into the environment's log file while it waits for the runtime (the channel calls
:meth:`EnvironmentOutput.pump`) and drains it when an invocation ends, so what was printed just before a timeout
or a crash is kept. Bounds, so that LocalStack's memory and disk do not grow with what a function prints:

* the init and each invocation keep at most :data:`MAX_SECTION_COST`, counted as CloudWatch Logs counts a
  ``PutLogEvents`` batch (UTF-8 bytes plus 26 per event, i.e. per line): one batch. Output beyond it is read and
  dropped, and one line says how much. AWS keeps all of it; LocalStack keeps every event of a log stream in
  memory, so without a cap one invoke printing 64 MiB grew LocalStack by ~500 MiB.
* a line longer than a CloudWatch event (256 KB, 26 bytes of it overhead) is split there, as Lambda splits it.
* the file holds the init's output and the current invocation's only: it is emptied once an invocation's logs
  are taken (old content dropped), so it stays under two sections.

Inside LocalStack only (the executor); standard library only.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from embedded_localstack.service.limits import (
    CLOUDWATCH_BATCH_BYTES,
    CLOUDWATCH_EVENT_OVERHEAD_BYTES,
    CLOUDWATCH_MAX_EVENT_BYTES,
)

MAX_SECTION_COST = CLOUDWATCH_BATCH_BYTES
MAX_LINE_BYTES = CLOUDWATCH_MAX_EVENT_BYTES - CLOUDWATCH_EVENT_OVERHEAD_BYTES
PUMP_CHUNK_BYTES = 1 << 16
"""One read of the pipe; shorter than a CloudWatch event, so only a chunk's first line can outgrow one."""


class OutputBudget:
    """What one section (the init, or one invocation) may still write: long lines split, the rest dropped."""

    def __init__(self, cost: int = MAX_SECTION_COST) -> None:
        self.remaining = cost
        self.dropped = 0
        self._line_bytes = 0  # of the line being written (since the last newline)

    def admit(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` (at most :data:`PUMP_CHUNK_BYTES`) to write, lines longer than a CloudWatch event
        split; the rest is counted as dropped, and so is everything once the budget is spent."""
        if self.remaining <= 0:
            self.dropped += len(chunk)
            return b""
        first_newline = chunk.find(b"\n")
        first_line = len(chunk) if first_newline < 0 else first_newline
        cost = len(chunk) + CLOUDWATCH_EVENT_OVERHEAD_BYTES * chunk.count(b"\n")
        if self._line_bytes + first_line <= MAX_LINE_BYTES and cost <= self.remaining:  # the usual case: all of it
            self.remaining -= cost
            last_newline = chunk.rfind(b"\n")
            self._line_bytes = self._line_bytes + len(chunk) if last_newline < 0 else len(chunk) - last_newline - 1
            return chunk
        return self._admit_piecewise(chunk)

    def _admit_piecewise(self, chunk: bytes) -> bytes:
        """Line by line: where a line outgrows an event, or where the budget ends."""
        pieces = []
        while chunk:
            newline = chunk.find(b"\n")
            room = MAX_LINE_BYTES - self._line_bytes
            if (len(chunk) if newline < 0 else newline) > room:  # split the line here
                piece, consumed, line_ends = chunk[:room] + b"\n", room, True
            elif newline >= 0:
                piece, consumed, line_ends = chunk[: newline + 1], newline + 1, True
            else:
                piece, consumed, line_ends = chunk, len(chunk), False
            cost = len(piece) + (CLOUDWATCH_EVENT_OVERHEAD_BYTES if line_ends else 0)
            if cost > self.remaining:
                self.dropped += len(chunk)
                self.remaining = 0
                break
            pieces.append(piece)
            self.remaining -= cost
            self._line_bytes = 0 if line_ends else self._line_bytes + len(piece)
            chunk = chunk[consumed:]
        return b"".join(pieces)

    def notice(self) -> bytes:
        """The line that ends a section whose output was cut ("" if nothing was dropped)."""
        if not self.dropped:
            return b""
        return (
            f"\n[embedded LocalStack] {self.dropped} bytes of output dropped: over the {MAX_SECTION_COST} bytes "
            "kept per invocation (and per init)\n"
        ).encode()


class EnvironmentOutput:
    """The environment's output pipe and log file (0600: the output may hold secrets); thread-safe (LocalStack may
    stop an environment, or read its logs, while the executor waits for it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # O_APPEND: writes go to the end whatever a reader does; reads use pread (no shared file position).
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._read_fd = -1
        self._lock = threading.Lock()
        self._budget = OutputBudget()
        self._boundary = 0  # where the invocation's output starts (before it: the init's, or output between invokes)

    # -- the pipe ----------------------------------------------------------------------------------------------
    def new_pipe(self) -> int:
        """A new pipe for a new process (the old one drained and closed); returns the write end, which the caller
        hands to the process and then closes. The file starts afresh."""
        self.close_pipe()
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(read_fd, False)
        with self._lock:
            self._read_fd = read_fd
            if self._fd >= 0:
                os.ftruncate(self._fd, 0)
            self._budget, self._boundary = OutputBudget(), 0
        return write_fd

    def fileno(self) -> int:
        """The pipe's read end (-1 once its writers are gone), for the channel's select."""
        return self._read_fd

    def pump(self) -> bool:
        """Move what the pipe holds now (one read) into the file; False when nothing was there or it ended."""
        with self._lock:
            if self._read_fd < 0:
                return False
            try:
                chunk = os.read(self._read_fd, PUMP_CHUNK_BYTES)
            except BlockingIOError:
                return False
            except OSError:
                chunk = b""
            if not chunk:  # every writer has closed it
                self._close_read_end()
                return False
            self._write(self._budget.admit(chunk))
            return True

    def drain(self) -> None:
        while self.pump():
            pass

    def close_pipe(self) -> None:
        """Drain what the pipe still holds (its writers have ended or are ending), then close it."""
        self.drain()
        with self._lock:
            self._close_read_end()

    # -- sections ----------------------------------------------------------------------------------------------
    def begin_invocation(self) -> None:
        """What was printed so far came before the invocation (the init's output, or output between invokes)."""
        self.drain()
        with self._lock:
            self._end_section()
            self._boundary = self._size()

    def take(self) -> tuple[str, str]:
        """(what came before the invocation, the invocation's output), each "" or ending in a newline; the file is
        emptied for the next invocation ("", "" once the environment is stopped)."""
        self.drain()
        with self._lock:
            if self._fd < 0:
                return "", ""
            self._end_section()
            before = os.pread(self._fd, self._boundary, 0)
            during = os.pread(self._fd, max(self._size() - self._boundary, 0), self._boundary)
            os.ftruncate(self._fd, 0)
            self._boundary = 0
        return _text(before), _text(during)

    def text(self) -> str:
        """Everything the file holds now (at most the init's and one invocation's output)."""
        with self._lock:
            return _text(os.pread(self._fd, self._size(), 0)) if self._fd >= 0 else ""

    def close(self) -> None:
        with self._lock:
            self._close_read_end()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self.path.unlink(missing_ok=True)

    def _close_read_end(self) -> None:
        if self._read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
            self._read_fd = -1

    def _end_section(self) -> None:
        self._write(self._budget.notice())
        self._budget = OutputBudget()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._fd >= 0:
            view = view[os.write(self._fd, view) :]

    def _size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd >= 0 else 0


def _text(data: bytes) -> str:
    output = data.decode("utf-8", errors="replace")
    return output if not output or output.endswith("\n") else output + "\n"


# -- AWS's lines ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    """The figures of AWS's ``REPORT`` line."""

    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None
    status: str = ""
    """"" or ``timeout`` / ``error``."""
    error_type: str = ""

    def line(self, request_id: str) -> str:
        fields = [
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {max(1, int(self.duration_ms + 0.999))} ms",
            f"Memory Size: {self.memory_size_mb} MB",
            f"Max Memory Used: {self.max_memory_used_mb} MB",
        ]
        if self.init_ms is not None:
            fields.append(f"Init Duration: {self.init_ms:.2f} ms")
        if self.status:
            fields.append(f"Status: {self.status}")
        if self.error_type:
            fields.append(f"Error Type: {self.error_type}")
        return "\t".join([f"REPORT RequestId: {request_id}", *fields]) + "\n"


def init_report(init_ms: float | None, error_type: str) -> str:
    return f"INIT_REPORT Init Duration: {init_ms or 0:.2f} ms\tPhase: init\tStatus: error\tError Type: {error_type}\n"


def invocation_log(
    request_id: str, qualifier: str, before_start: str, output: str, report: Report, timeout_s: float
) -> str:
    """An invocation's logs as AWS writes them: what came before START (the init's output, INIT_REPORT), START,
    the output, the timeout line (status ``timeout``), END and REPORT."""
    lines = [before_start, f"START RequestId: {request_id} Version: {qualifier}\n", output]
    if report.status == "timeout":
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines.append(f"{timestamp} {request_id} Task timed out after {timeout_s:.2f} seconds\n")
    lines += [f"END RequestId: {request_id}\n", report.line(request_id)]
    return "".join(lines)
