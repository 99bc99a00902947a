"""The functions' seccomp filter (embedded_localstack/service/sandbox/seccomp.py) as data: its system call numbers
against the kernel's headers, and its decisions on both architectures, run through a classic-BPF interpreter.
The filter's effect on a real process is tested with hostile functions in tests/embedded/test_confinement.py."""

from __future__ import annotations

import errno
import logging
import re
import struct
from pathlib import Path

import pytest

from embedded_localstack.service.sandbox import seccomp

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),  # arm64's table is the generic one
}


def header_numbers(path: Path) -> dict[str, int]:
    pattern = re.compile(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b")
    return {name: int(number) for name, number in pattern.findall(path.read_text())}


@pytest.mark.parametrize("arch", sorted(seccomp.SYSCALLS))
def test_system_call_numbers_are_the_kernels(arch):
    if not HEADERS[arch].exists():
        pytest.skip(f"no kernel headers for {arch} here ({HEADERS[arch]})")
    known = header_numbers(HEADERS[arch])
    ours = dict(seccomp.SYSCALLS[arch])
    ours.pop("open_tree_attr")  # Linux 6.15, newer than these headers (its number is the same everywhere)
    assert {name: known.get(name) for name in ours} == ours


def run(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """Evaluate a classic BPF seccomp program (the instructions seccomp.py emits) on one system call."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    code = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    accumulator, pc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:
            accumulator = struct.unpack_from("=I", data, k)[0]
        elif op == 0x06:
            return k
        else:
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[op]
            pc += jt if taken else jf
        pc += 1


EPERM = seccomp.RET_ERRNO | errno.EPERM
ENOSYS = seccomp.RET_ERRNO | errno.ENOSYS


@pytest.mark.parametrize("arch", sorted(seccomp.SYSCALLS))
def test_the_filter_refuses_what_it_should_and_allows_the_rest(arch):
    program, audit, numbers = seccomp.build_filter(arch), seccomp.AUDIT_ARCH[arch], seccomp.SYSCALLS[arch]
    assert len(program) % 8 == 0
    for name in seccomp.REFUSED:
        if name in numbers:
            assert run(program, audit, numbers[name]) == EPERM, name
    assert run(program, audit, numbers["clone3"]) == ENOSYS
    assert run(program, audit, numbers["clone"], 0x11) == seccomp.RET_ALLOW  # fork-like: SIGCHLD
    assert run(program, audit, numbers["clone"], 0x003D0F00) == seccomp.RET_ALLOW  # pthread_create's flags
    for flag in (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
        assert run(program, audit, numbers["clone"], flag | 0x11) == EPERM, hex(flag)
    assert run(program, audit, numbers["personality"], 0xFFFFFFFF) == seccomp.RET_ALLOW
    assert run(program, audit, numbers["personality"], 0x0040000) == EPERM  # ADDR_NO_RANDOMIZE
    for allowed in (0, 1, 3, 57 if arch == "x86_64" else 63, 0x3FF):  # read, write, close, fork/read, unknown
        assert run(program, audit, allowed) == seccomp.RET_ALLOW
    assert run(program, 0x40000003, 20) == seccomp.RET_KILL_PROCESS  # i386 (int 0x80) or any other ABI
    if arch == "x86_64":
        assert run(program, audit, seccomp.X32_SYSCALL_BIT | 39) == seccomp.RET_KILL_PROCESS


def test_an_unknown_architecture_gets_no_filter_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        assert seccomp.filter_for("riscv64") is None
    assert "no seccomp filter for functions on riscv64" in caplog.text
