"""A function's own network namespace, connected by pasta to the one gateway port it may reach."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from embedded_localstack.service.sandbox.cgroups import Cgroup
from embedded_localstack.service.sandbox.host_addresses import HOST_ADDRESSES
from embedded_localstack.service.sandbox.hostside import helper_prefix, host_environment
from embedded_localstack.service.sandbox.layout import LaunchSpec

LOG = logging.getLogger(__name__)

NETWORK_SETUP_TIMEOUT_S = 15.0


StartSandbox = Callable[[Sequence[str], Sequence[int]], "subprocess.Popen[bytes]"]
"""Starts the sandbox with these extra bwrap arguments and descriptors (launch.py)."""


def start_with_own_network(
    spec: LaunchSpec, start_sandbox: StartSandbox, procs: Sequence[Path], cgroup: Cgroup | None = None
) -> subprocess.Popen[bytes]:
    """bwrap in a new network namespace, held before the function starts until pasta has connected it.

    pasta gives the namespace user-mode networking: outbound connections leave through the host's sockets (as
    from a Lambda in a VPC with internet access), the namespace's 127.0.0.1:<gateway port> is forwarded to the
    host's loopback gateway (so ``AWS_ENDPOINT_URL`` works unchanged), nothing is forwarded inwards (a listener a
    function opens is reachable from nowhere but its own namespace), the gateway address is not mapped to the host's
    loopback, and no address of the host is reachable (host_addresses.py: rules set before pasta connects the
    namespace, kept up to date). pasta runs in the foreground in the environment's cgroups, with SIGKILL as
    parent-death signal: it ends with the environment and with LocalStack.
    It starts with the fixed host environment and runs as the sandbox's host user (:func:`pasta_identity`).
    """
    assert spec.gateway_port is not None
    info_read, info_write = os.pipe()
    block_read, block_write = os.pipe()
    network_args = ["--unshare-net", "--info-fd", str(info_write), "--block-fd", str(block_read)]
    try:
        process = start_sandbox(network_args, (info_write, block_read))
    finally:
        os.close(info_write)
        os.close(block_read)
    try:
        child = _read_child_pid(info_read)
        # Before pasta connects the namespace: there is no moment in which the host's addresses are in reach.
        namespace = HOST_ADDRESSES.protect(child)
        as_sandbox_user, namespaces = pasta_identity(spec, child)
        pasta = [
            *helper_prefix(spec.confinement, procs, as_sandbox_user), "--pdeathsig", "KILL", "--",
            "pasta", "--foreground", "--quiet", "--config-net", "--no-map-gw",
            "-t", "none", "-u", "none", "-T", str(spec.gateway_port), "-U", "none", *namespaces,
        ]  # fmt: skip
        try:
            helper = subprocess.Popen(
                pasta,
                env=host_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except BaseException:
            HOST_ADDRESSES.release(namespace)
            raise
        NETWORK_HELPERS.add(helper, namespace)
        _wait_until_forwarding(child, spec.gateway_port, helper)
        if cgroup is not None:  # they only wait for the sandbox: freezing them would only cost time
            cgroup.freezer.exempt((process.pid, helper.pid))
        os.write(block_write, b"1")
    except (OSError, ValueError) as error:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise OSError(f"cannot give the function its network namespace: {error}") from error
    finally:
        os.close(info_read)
        os.close(block_write)
    return process


def pasta_identity(spec: LaunchSpec, child: int) -> tuple[bool, list[str]]:
    """Whether pasta runs as the sandbox's host user, and which namespaces it joins.

    With the seccomp filter the sandbox has one user namespace (bwrap.namespace_args), owned by the sandbox's
    host user (or LocalStack's, not as root): pasta, started as that user (hostside.helper_prefix), joins it and
    then the network namespace, and so never holds root. Without the filter bwrap nests a second user namespace,
    which pasta cannot join usefully, and as root without a host user the namespace is root's: pasta then runs
    as root on the host (``--runas 0:0``; as ``nobody`` it could not enter the namespace) and joins the network
    namespace only."""
    namespaces = f"/proc/{child}/ns"
    confinement = spec.confinement
    if confinement.seccomp is not None and (confinement.user is not None or os.geteuid() != 0):
        return True, ["--userns", f"{namespaces}/user", "--netns", f"{namespaces}/net"]
    return False, ["--runas", "0:0", "--netns", f"{namespaces}/net", "--netns-only"]


class NetworkHelpers:
    """The pasta processes of running environments, each with its namespace's guard (host_addresses.py); a pasta
    ends with its environment's cgroup and is reaped here, and its namespace's guard released."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[tuple[subprocess.Popen[bytes], int]] = []

    def add(self, helper: subprocess.Popen[bytes], namespace: int) -> None:
        with self._lock:
            self._running.append((helper, namespace))

    def reap(self) -> None:
        with self._lock:
            ended = [(helper, namespace) for helper, namespace in self._running if helper.poll() is not None]
            self._running = [entry for entry in self._running if entry not in ended]
        for _, namespace in ended:
            HOST_ADDRESSES.release(namespace)


NETWORK_HELPERS = NetworkHelpers()


def _wait_until_forwarding(child: int, port: int, helper: subprocess.Popen[bytes]) -> None:
    """Until the namespace listens on 127.0.0.1:<port> (pasta's forwarder): the function's first call must work."""
    wanted = f"0100007F:{port:04X}"
    deadline = time.monotonic() + NETWORK_SETUP_TIMEOUT_S
    while True:
        try:
            table = Path(f"/proc/{child}/net/tcp").read_text()
        except OSError as error:
            raise OSError(f"the sandbox ended while being set up: {error}") from error
        if any(f" {wanted} 00000000:0000 0A " in line for line in table.splitlines()):
            return
        if helper.poll() is not None:
            detail = helper.stderr.read().decode(errors="replace").strip()[-300:] if helper.stderr else ""
            raise OSError(f"pasta exited ({helper.returncode}): {detail}")
        if time.monotonic() > deadline:
            helper.kill()
            raise OSError("pasta did not connect the network namespace in time")
        time.sleep(0.002)


def _read_child_pid(info_fd: int) -> int:
    """The sandbox's first process (host pid) from bwrap's --info-fd JSON."""
    data = b""
    deadline = time.monotonic() + NETWORK_SETUP_TIMEOUT_S
    while b"}" not in data:
        ready, _, _ = select.select([info_fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise OSError("bwrap did not report its sandbox in time")
        chunk = os.read(info_fd, 4096)
        if not chunk:
            raise OSError("bwrap exited before reporting its sandbox")
        data += chunk
    return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])
