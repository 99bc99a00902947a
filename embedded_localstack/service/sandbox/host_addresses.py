"""No address of the host is reachable from a function's network namespace, including addresses added later.

pasta connects a function's namespace to the host by opening host sockets for the function's connections: a
connection to an address the host itself has (another address of its interface, an address on ``lo``, its IPv6
link-local address, ...) would reach any host service listening on ``0.0.0.0`` or ``[::]``. ``--no-map-gw`` only
stops the gateway address from meaning the host's loopback. So before the function starts, every destination the
host's own routing table delivers locally (its ``local`` table: ``local``, ``broadcast`` and ``anycast`` routes, IPv4
and IPv6, e.g. ``127.0.0.0/8``, eth0's address, an address on ``lo``, ``fe80::...``) gets a policy rule of type
``unreachable`` in the namespace (priority :data:`RULE_PRIORITY`, after the namespace's own ``local`` table: its own
loopback and addresses keep working; the functions' gateway port is forwarded by pasta without routing). A policy
rule, unlike a route, also applies to link-local destinations. The function holds no capability in its namespace,
so it cannot remove them (``RTNETLINK answers: Operation not permitted``); a connection gets ``ENETUNREACH``.

Addresses that appear later (DHCP, an address added by hand, a new interface) are watched for: one thread of
LocalStack listens to the kernel's address and route notifications and adds the rules to every namespace it guards,
within milliseconds. Everything else (the internet, other hosts) stays reachable, as from a Lambda function.

rtnetlink by hand (no ``ip`` command, no library): standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from embedded_localstack.service.netns import socket_in_namespace

LOG = logging.getLogger(__name__)

RULE_PRIORITY = 100
"""Between the ``local`` table (0: the namespace's own addresses) and ``main`` (32766: routes through pasta)."""

# <linux/netlink.h>, <linux/rtnetlink.h>, <linux/fib_rules.h>
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x2, 0x4, 0x200, 0x400, 0x300
RTM_GETROUTE, RTM_NEWRULE = 26, 32
RTA_DST, RTA_TABLE = 1, 15
FRA_DST, FRA_PRIORITY = 1, 6
RT_TABLE_LOCAL = 255
HOST_ROUTE_TYPES = frozenset({2, 3, 4})  # RTN_LOCAL, RTN_BROADCAST, RTN_ANYCAST
FR_ACT_UNREACHABLE = 7
RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE = 0x10, 0x40, 0x100, 0x400
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg / fib_rule_hdr: same layout
ATTRIBUTE = struct.Struct("=HH")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attributes(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + ATTRIBUTE.size <= len(data):
        length, kind = ATTRIBUTE.unpack_from(data, offset)
        if length < ATTRIBUTE.size:
            return
        yield kind, data[offset + ATTRIBUTE.size : offset + length]
        offset += _align(length)


def _attribute(kind: int, value: bytes) -> bytes:
    length = ATTRIBUTE.size + len(value)
    return ATTRIBUTE.pack(length, kind) + value + b"\0" * (_align(length) - length)


def _messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, sequence, payload) of each netlink message in one datagram."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, _, sequence, _ = HEADER.unpack_from(data, offset)
        if length < HEADER.size:
            return
        yield kind, sequence, data[offset + HEADER.size : offset + length]
        offset += _align(length)


def _request(channel: socket.socket, kind: int, flags: int, body: bytes, sequence: int) -> Iterator[bytes]:
    """Send one request; yield the payloads of its answer until done (raises OSError for a netlink error)."""
    channel.send(HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | flags, sequence, 0) + body)
    while True:
        for answer, answered, payload in _messages(channel.recv(65536)):
            if answered != sequence:
                continue
            if answer == NLMSG_DONE:
                return
            if answer == NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", payload)
                if error:
                    raise OSError(-error, os.strerror(-error))
                return  # the acknowledgement
            yield payload


def _route_socket(groups: int = 0) -> socket.socket:
    channel = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    channel.bind((0, groups))
    return channel


def host_networks() -> set[Network]:
    """Every destination the host delivers to itself: its ``local`` routing table, IPv4 and IPv6."""
    found: set[Network] = set()
    with _route_socket() as channel:
        for sequence, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            query = RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
            try:
                answers = list(_request(channel, RTM_GETROUTE, NLM_F_DUMP, query, sequence))
            except OSError as error:
                if error.errno in (errno.EAFNOSUPPORT, errno.EOPNOTSUPP):  # e.g. a kernel without IPv6
                    continue
                raise
            for payload in answers:
                _, prefix, _, _, table, _, _, route_type, _ = RTMSG.unpack_from(payload)
                attributes = dict(_attributes(payload[RTMSG.size :]))
                if RTA_TABLE in attributes:
                    (table,) = struct.unpack("=I", attributes[RTA_TABLE][:4])
                if table != RT_TABLE_LOCAL or route_type not in HOST_ROUTE_TYPES or RTA_DST not in attributes:
                    continue
                address = ipaddress.ip_address(attributes[RTA_DST])
                found.add(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return found


def block(namespace_fd: int, networks: set[Network]) -> None:
    """Rules of type unreachable for ``networks`` in the network namespace ``namespace_fd`` (present ones kept)."""
    with socket_in_namespace(namespace_fd, socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as channel:
        channel.bind((0, 0))
        for sequence, network in enumerate(sorted(networks, key=str), start=1):
            family = socket.AF_INET if network.version == 4 else socket.AF_INET6
            header = RTMSG.pack(family, network.prefixlen, 0, 0, 0, 0, 0, FR_ACT_UNREACHABLE, 0)
            body = header + _attribute(FRA_DST, network.network_address.packed)
            body += _attribute(FRA_PRIORITY, struct.pack("=I", RULE_PRIORITY))
            try:
                for _ in _request(channel, RTM_NEWRULE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, sequence):
                    pass
            except FileExistsError:
                continue


class HostAddressGuard:
    """The network namespaces of running environments, each kept free of routes to the host's addresses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guarded: dict[int, set[Network]] = {}  # namespace fd -> networks blocked there
        self._watching = False

    def protect(self, pid: int) -> int:
        """Block the host's addresses in the network namespace of ``pid``; a handle for :meth:`release`.
        OSError if they cannot be blocked (the environment must then not start)."""
        namespace = os.open(Path("/proc") / str(pid) / "ns" / "net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            with self._lock:
                self._watch()  # before reading the table: no address can slip in between
                self._guarded[namespace] = set()
                self._update(namespace, host_networks())
        except BaseException:
            with self._lock:
                self._guarded.pop(namespace, None)
            os.close(namespace)
            raise
        return namespace

    def release(self, namespace: int) -> None:
        """Stop guarding a namespace whose environment has ended and close its handle (once per handle)."""
        with self._lock:
            if self._guarded.pop(namespace, None) is None:
                return
        os.close(namespace)

    def _update(self, namespace: int, networks: set[Network]) -> None:
        missing = networks - self._guarded[namespace]
        if missing:
            block(namespace, missing)
            self._guarded[namespace] |= missing

    def _watch(self) -> None:
        if self._watching:
            return
        groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
        channel = _route_socket(groups)
        threading.Thread(target=self._follow, args=(channel,), name="host-addresses", daemon=True).start()
        self._watching = True

    def _follow(self, channel: socket.socket) -> None:
        """Every change of the host's addresses or routes: block what is new in every guarded namespace."""
        while True:
            try:
                channel.recv(65536)
                channel.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    while channel.recv(65536):  # a burst (an address brings routes): one update
                        pass
            except OSError as error:  # ENOBUFS: notifications were lost; the update below reads the whole table
                LOG.debug("host address notifications: %s", error)
            finally:
                channel.setblocking(True)
            try:
                networks = host_networks()
                with self._lock:
                    for namespace in list(self._guarded):
                        try:
                            self._update(namespace, networks)
                        except OSError as error:  # its environment ended meanwhile
                            LOG.debug("cannot update namespace %d: %s", namespace, error)
            except Exception:  # the thread must live on
                LOG.exception("cannot block a new host address in the functions' network namespaces")


HOST_ADDRESSES = HostAddressGuard()
