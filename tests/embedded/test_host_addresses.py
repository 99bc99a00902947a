"""A function reaches the internet and LocalStack's gateway, never a service on one of the host's own addresses.

Real embedded LocalStack (sandboxed, each environment in its own network namespace through pasta), real listeners
bound to 0.0.0.0 and [::] on the host, real addresses added to ``lo`` (TEST-NET, as root) and a real "other host":
a network namespace behind a veth pair. AWS: a function's outbound connections go to the internet (or its VPC);
nothing of the machine that runs it is reachable (service/sandbox/host_addresses.py, docs/embedded-mode.md).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from embedded_helpers import invoke, sandboxed_processes
from support import wait_until

pytestmark = pytest.mark.embedded

BANNER = b"host-listener"
OUTSIDE_BANNER = b"outside-host"
EXTRA_LO = ("198.51.100.7/32", "2001:db8::7/128")
LATE_LO = "198.51.100.8/32"

PROBE = """
import os, socket, subprocess, urllib.request

def attempt(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = (host, port)
    if host.startswith("fe80:"):  # link-local: through the namespace's own interface
        scope = next(index for index, name in socket.if_nameindex() if name != "lo")
        address = (host, port, 0, scope)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(3)
            connection.connect(address)
            return "reached " + connection.recv(100).decode(errors="replace")
    except OSError as error:
        return type(error).__name__ + " " + os.strerror(error.errno or 0)

def lambda_handler(event, context):
    seen = {f"{host} {port}": attempt(host, port) for host, port in event["targets"]}
    gateway = urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/2015-03-31/functions/", timeout=10).status
    undo = [subprocess.run(["/usr/sbin/ip", *command.split()], capture_output=True, text=True)
            for command in ("rule flush", "-6 rule flush", "rule del pref 100")]
    return {"seen": seen, "gateway": gateway, "environment": os.environ["LOCALSTACK_RUNTIME_ID"],
            "undo": [(run.returncode, run.stderr.strip()) for run in undo]}
"""


def _serve(listener: socket.socket, banner: bytes) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.sendall(banner)


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A service on the host listening on 0.0.0.0 and [::] (one free port on both)."""
    for _ in range(20):
        ipv4 = socket.create_server(("0.0.0.0", 0))  # every address of the host: the point of the test
        port = ipv4.getsockname()[1]
        try:
            ipv6 = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=False)
            break
        except OSError:
            ipv4.close()
    else:
        pytest.fail("no port free on both 0.0.0.0 and [::]")
    for listener in (ipv4, ipv6):
        threading.Thread(target=_serve, args=(listener, BANNER), daemon=True).start()
    try:
        yield port
    finally:
        for listener in (ipv4, ipv6):
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()


@contextlib.contextmanager
def address_on_lo(address: str) -> Iterator[None]:
    family = "-6" if ":" in address else "-4"
    _run("ip", family, "addr", "add", address, "dev", "lo")
    try:
        yield
    finally:
        subprocess.run(["ip", family, "addr", "del", address, "dev", "lo"], check=False, timeout=30)


@pytest.fixture
def extra_lo_addresses() -> Iterator[tuple[str, ...]]:
    with contextlib.ExitStack() as stack:
        for address in EXTRA_LO:
            stack.enter_context(address_on_lo(address))
        yield tuple(address.split("/")[0] for address in EXTRA_LO)


@pytest.fixture
def outside_host() -> Iterator[tuple[str, int]]:
    """A listener on an address that is none of the host's: a network namespace behind a veth pair (TEST-NET-3)."""
    code = (
        "import socket\nserver = socket.create_server(('0.0.0.0', 0))\nprint(server.getsockname()[1], flush=True)\n"
        f"while True:\n    connection, _ = server.accept()\n    connection.sendall({OUTSIDE_BANNER!r})\n"
        "    connection.close()\n"
    )
    peer = subprocess.Popen(["unshare", "--net", sys.executable, "-c", code], stdout=subprocess.PIPE)
    subnet = 4 * random.randint(1, 60)
    host_side, peer_side = f"203.0.113.{subnet + 1}", f"203.0.113.{subnet + 2}"
    link = f"mr{os.getpid() % 100000}"
    try:
        assert peer.stdout is not None
        port = int(peer.stdout.readline())
        _run("ip", "link", "add", f"{link}h", "type", "veth", "peer", "name", f"{link}p", "netns", str(peer.pid))
        _run("ip", "link", "set", f"{link}h", "addrgenmode", "none")  # no link-local address (no DAD to wait for)
        _run("ip", "addr", "add", f"{host_side}/30", "dev", f"{link}h")
        _run("ip", "link", "set", f"{link}h", "up")
        inside = f"ip addr add {peer_side}/30 dev {link}p && ip link set {link}p up && ip link set lo up"
        _run("nsenter", f"--net=/proc/{peer.pid}/ns/net", "sh", "-c", inside)
        yield peer_side, port
    finally:
        peer.kill()  # its namespace ends, and the veth pair with it
        peer.wait()
        subprocess.run(["ip", "link", "del", f"{link}h"], check=False, capture_output=True, timeout=30)


def host_addresses() -> set[str]:
    """Every address the host's interfaces have (IPv4, IPv6 with link-local ones), the loopback ones included."""
    found = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                found.add(address.address.split("%")[0])
    return found


def reached_from_host(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address: tuple = (host, port)
    if host.startswith("fe80:"):
        interface = next(name for name, addresses in psutil.net_if_addrs().items()
                         if any(entry.address.split("%")[0] == host for entry in addresses))  # fmt: skip
        address = (host, port, 0, socket.if_nametoindex(interface))
    with socket.socket(family) as connection:
        connection.settimeout(3)
        connection.connect(address)
        return connection.recv(100) == BANNER


def namespace_rules(localstack_pid: int, environment: str) -> str:
    """``ip rule`` (IPv4 and IPv6) in the network namespace of one environment's sandbox."""
    own = Path("/proc/self/ns/net").stat().st_ino
    for pid in sandboxed_processes(localstack_pid, environment):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/ns/net").stat().st_ino != own:
                command = ["nsenter", f"--net=/proc/{pid}/ns/net", "sh", "-c", "ip rule; ip -6 rule"]
                return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout
    raise AssertionError(f"no process of environment {environment} in a network namespace of its own")


def test_no_address_of_the_host_is_reachable_from_a_function(
    aws, deploy_function, embedded, host_listener, extra_lo_addresses, outside_host
):
    addresses = host_addresses()
    assert set(extra_lo_addresses) <= addresses
    for address in addresses:  # the host's service answers on every one of them: the test means something
        assert reached_from_host(address, host_listener), address
    outside = list(outside_host)
    name = deploy_function({"lambda_function.py": PROBE})
    targets = [[address, host_listener] for address in sorted(addresses)] + [outside]
    seen = invoke(aws, name, {"targets": targets}).payload

    reached = {target: outcome for target, outcome in seen["seen"].items() if outcome.startswith("reached")}
    # AWS: outbound connections reach other hosts (here: the veth peer) and LocalStack's APIs (the gateway) ...
    assert reached == {f"{outside[0]} {outside[1]}": f"reached {OUTSIDE_BANNER.decode()}"}, seen["seen"]
    assert seen["gateway"] == 200
    # ... and none of the host's addresses: eth0's, lo's extra ones, IPv6 global and link-local.
    for address in extra_lo_addresses:
        assert seen["seen"][f"{address} {host_listener}"].startswith("OSError Network is unreachable"), seen
    # The function holds no capability in its namespace: the rules stay.
    assert all(code != 0 and "Operation not permitted" in error for code, error in seen["undo"]), seen["undo"]

    # An address the host gets later is blocked in running environments too (the guard follows the kernel's news).
    environment = seen["environment"]
    late = LATE_LO.split("/")[0]
    with address_on_lo(LATE_LO):
        assert reached_from_host(late, host_listener)
        assert wait_until(lambda: f"to {late} unreachable" in namespace_rules(embedded.pid, environment), 10)
        again = invoke(aws, name, {"targets": [[late, host_listener], [extra_lo_addresses[0], host_listener]]})
    assert again.payload["environment"] == environment, "the same, warm environment"
    assert not any(outcome.startswith("reached") for outcome in again.payload["seen"].values()), again.payload
