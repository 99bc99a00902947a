"""Every socket the embedded LocalStack's process tree listens on is bound to loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from embedded_helpers import invoke, sandboxed_processes

from embedded_localstack.control.processes import process_tree

pytestmark = pytest.mark.embedded

TCP_LISTEN = "0A"


def listening_sockets() -> dict[int, tuple[str, int]]:
    """inode -> (address, port) for every listening TCP socket, from /proc/net/tcp and tcp6."""
    sockets = {}
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state != TCP_LISTEN:
                continue
            hex_address, hex_port = local.split(":")
            raw = bytes.fromhex(hex_address)
            # /proc stores the address as host-order 32-bit words
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(packed) if width == 16 else ipaddress.ip_address(packed[:4])
            sockets[inode] = (str(address), int(hex_port, 16))
    return sockets


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def test_localstack_and_function_processes_listen_on_loopback_only(aws, deploy_function, embedded):
    # a warm function process must be part of what we check (it talks to the executor over a socket pair)
    code = "import os\ndef lambda_handler(e, c):\n    return os.environ['LOCALSTACK_RUNTIME_ID']\n"
    name = deploy_function({"lambda_function.py": code})
    function_pids = sandboxed_processes(embedded.pid, invoke(aws, name, {}).payload)
    tree = process_tree(embedded.pid)
    assert function_pids and function_pids <= tree

    listening = listening_sockets()
    bound = {pid: [listening[i] for i in socket_inodes(pid) if i in listening] for pid in tree}
    assert (("127.0.0.1", int(embedded.endpoint.rsplit(":", 1)[1]))) in bound[embedded.pid]
    assert all(bound[pid] == [] for pid in function_pids), "the function process needs no listening socket"
    not_loopback = {
        pid: addrs for pid, addrs in bound.items() for a in addrs if not ipaddress.ip_address(a[0]).is_loopback
    }
    assert not not_loopback, f"listening beyond loopback: {not_loopback}"
