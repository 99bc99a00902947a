"""Loopback ports: is one free, and a free one for a LocalStack of our own."""

from __future__ import annotations

import errno
import socket


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (binding it works)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (tests and parallel runs never take a user's 4566)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
