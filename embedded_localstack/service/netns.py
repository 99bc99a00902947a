"""Sockets inside another process's network namespace, made by this process (no helper, no host port).

A sandboxed environment has its own network namespace (bwrap ``--unshare-net``); AWS's Runtime API is at
``127.0.0.1:9001`` inside it, and the rules that keep the host's addresses out of reach are set there through a
netlink socket (sandbox/host_addresses.py). A socket belongs to the namespace of the thread that creates it, and
``setns(2)`` moves one thread only: so a short-lived thread of ours enters the namespace (``/proc/<pid>/ns/net``),
creates the socket and ends; the socket stays in that namespace and is bound, listened on and served from any
thread of LocalStack. Entering needs ``CAP_SYS_ADMIN`` over the namespace's user namespace (LocalStack runs as
root, which owns the sandbox's). Python 3.11 has no ``os.setns``: libc's, through ctypes. Standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
BACKLOG = 16


def _setns(fd: int, nstype: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, nstype)
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(fd, nstype) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def socket_in_namespace(namespace_fd: int, family: int, kind: int, protocol: int = 0) -> socket.socket:
    """A new socket of the network namespace ``namespace_fd`` refers to (an open ``/proc/<pid>/ns/net``).

    A socket keeps the namespace it was created in: whatever is done with it later (bind, connect, netlink
    requests) happens there, from any thread."""
    outcome: list[socket.socket | BaseException] = []

    def enter_and_create() -> None:
        try:
            _setns(namespace_fd, CLONE_NEWNET)
            outcome.append(socket.socket(family, kind, protocol))
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    # This thread is never reused: it ends in the other namespace, which nothing else of ours ever runs in.
    thread = threading.Thread(target=enter_and_create, name=f"netns-{namespace_fd}", daemon=True)
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def listen_in_namespace(pid: int, address: tuple[str, int]) -> socket.socket:
    """A TCP socket listening on ``address`` inside the network namespace of process ``pid``."""
    try:
        namespace = os.open(Path("/proc") / str(pid) / "ns" / "net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            listener = socket_in_namespace(namespace, socket.AF_INET, socket.SOCK_STREAM)
        finally:
            os.close(namespace)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(BACKLOG)
        except BaseException:
            listener.close()
            raise
    except OSError as error:
        raise OSError(
            f"cannot listen on {address[0]}:{address[1]} in the network namespace of {pid}: {error}"
        ) from error
    return listener
