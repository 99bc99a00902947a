"""The executor's end of the socket pair with one function process: bounded frames, with the invoke's id.

The frame format is defined once, by the runtime (:func:`embedded_localstack.runtime.bootstrap.encode_frame`);
this side reads it. Whatever a frame declares, the executor keeps at most :data:`FRAME_LIMITS` bytes of its body:
a longer body is read in pieces and dropped (the frame comes back with ``body=None``), so a runtime cannot make
LocalStack allocate what it announces. While the executor waits for a frame, it pumps the environment's output
(:class:`embedded_localstack.service.function_logs.EnvironmentOutput`), so a function that prints more than a
pipe holds never blocks on its own output.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from typing import Protocol

# The frame protocol is defined once, on the runtime's side (frame kinds: ready, init error, invoke, result,
# function error; CONFIGURE goes to a spare process only, see spares.py).
from embedded_localstack.runtime.bootstrap import (
    FRAME_HEADER_BYTES,
    FUNCTION_ERROR,
    INIT_ERROR,
    READY,
    RESULT,
    encode_frame,
    frame_sizes,
)
from embedded_localstack.service.limits import MAX_RESPONSE_BYTES

FRAME_LIMITS: dict[bytes, int] = {
    READY: 0,
    INIT_ERROR: MAX_RESPONSE_BYTES,
    RESULT: MAX_RESPONSE_BYTES,
    FUNCTION_ERROR: MAX_RESPONSE_BYTES,
}
"""The longest body kept per kind: a result or an error is what the invoke returns, so AWS's response limit; *ready*
carries nothing. Any other kind keeps nothing (the executor ends an environment that sends one)."""
READ_CHUNK_BYTES = 1 << 20


class ProcessGone(Exception):
    """The function process closed its end of the channel: it exited (or is exiting)."""


class DeadlinePassed(Exception):
    """The frame was not complete before the deadline (a silent or stuck runtime)."""


class OutputPump(Protocol):
    """What the channel drives while it waits: the environment's output pipe."""

    def fileno(self) -> int: ...

    def pump(self) -> None: ...


@dataclass(frozen=True)
class Frame:
    kind: bytes
    request_id: str
    body: bytes | None
    """None when the body was longer than :data:`FRAME_LIMITS` allows for its kind (read and dropped)."""


class RuntimeChannel:
    """The executor's end of the socket pair with one function process."""

    def __init__(self, sock: socket.socket, output: OutputPump | None = None) -> None:
        self._socket = sock
        self._output = output

    def send(self, kind: bytes, request_id: str, body: bytes) -> None:
        try:
            self._socket.sendall(encode_frame(kind, request_id, body))
        except OSError as error:
            raise ProcessGone(str(error)) from error

    def pending(self) -> bool:
        """True if the runtime sent something (or closed its end) that nobody asked for yet."""
        return bool(self._select_all([self._socket], 0.0))

    def wait_readable(self, timeout_s: float) -> bool:
        """True once a frame's bytes (or end of file) arrive within ``timeout_s``; pumps the output meanwhile."""
        deadline = time.perf_counter() + max(timeout_s, 0.0)
        while True:
            output = self._output.fileno() if self._output is not None else -1
            watched = [self._socket, output] if output >= 0 else [self._socket]
            readable = self._select_all(watched, deadline - time.perf_counter())
            if output in readable and self._output is not None:
                self._output.pump()
            if self._socket in readable:
                return True
            if not readable:
                return False

    def receive(self, deadline: float) -> Frame:
        """One whole frame, complete before ``deadline`` (``time.perf_counter()``) or DeadlinePassed.

        ProcessGone at end of file. Bodies are bounded by :data:`FRAME_LIMITS`."""
        kind, id_length, body_length = frame_sizes(self._read_exactly(FRAME_HEADER_BYTES, deadline, keep=True))
        request_id = self._read_exactly(id_length, deadline, keep=True).decode(errors="replace")
        if body_length > FRAME_LIMITS.get(kind, 0):
            self._read_exactly(body_length, deadline, keep=False)
            return Frame(kind, request_id, None)
        return Frame(kind, request_id, self._read_exactly(body_length, deadline, keep=True))

    def _read_exactly(self, size: int, deadline: float, keep: bool) -> bytes:
        chunks, remaining = [], size
        while remaining:
            if not self.wait_readable(deadline - time.perf_counter()):
                raise DeadlinePassed(f"{size - remaining} of {size} bytes before the deadline")
            try:
                chunk = self._socket.recv(min(remaining, READ_CHUNK_BYTES))
            except OSError as error:
                raise ProcessGone(str(error)) from error
            if not chunk:
                raise ProcessGone("end of file")
            if keep:
                chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    @staticmethod
    def _select_all(watched: list, timeout_s: float) -> list:
        try:
            readable, _, _ = select.select(watched, [], [], max(timeout_s, 0.0))
        except (OSError, ValueError) as error:  # closed by stop() from another thread
            raise ProcessGone(str(error)) from error
        return readable

    def close(self) -> None:
        self._socket.close()
