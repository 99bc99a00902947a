"""The seccomp filter of a function process: kernel interfaces a Lambda function has no business with, refused.

In the spirit of Docker's default profile (moby's ``profiles/seccomp/default.json``): the kernel's key store
(``keyctl``, ``add_key``, ``request_key``), tracing other processes (``ptrace``, ``process_vm_*``, ``kcmp``,
``pidfd_getfd``), ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, mounting (``mount``, ``umount2``,
``pivot_root``, ``chroot`` and the new mount API), new namespaces (``unshare``, ``setns``, ``clone`` with any
``CLONE_NEW*`` flag), kernel modules, ``kexec``, ``reboot``, swap, setting clocks, file handles
(``open_by_handle_at``, ``name_to_handle_at``), ``acct``, ``quotactl``, ``syslog``, NUMA policy, port I/O and a
few obsolete calls answer ``EPERM``, as Docker answers them; ``personality`` only accepts the values Docker
accepts; ``clone3`` answers ``ENOSYS``, so the C library falls back to ``clone`` (whose flags can be checked; a
filter cannot read ``clone3``'s flags, which are behind a pointer). A system call of another architecture
(32-bit ``int 0x80``) or of the x32 ABI kills the process: the table below would not describe it.

The program is classic BPF, built here with ``struct`` (standard library only) and handed to bubblewrap with
``--seccomp FD``; bubblewrap installs it (with ``no_new_privs``) in the sandbox's pid 1 and in the function's
process right before ``execve``, so everything the function starts inherits it. The numbers are the kernel's
(``arch/x86/entry/syscalls/syscall_64.tbl`` and ``include/uapi/asm-generic/unistd.h``); since Linux 5.1 new
system calls have one number on every architecture.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from collections.abc import Iterable, Mapping

LOG = logging.getLogger(__name__)

# -- architectures -------------------------------------------------------------------------------------------
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
"""``seccomp_data.arch`` of the 64-bit little-endian ABIs (``AUDIT_ARCH_X86_64``, ``AUDIT_ARCH_AARCH64``)."""
X32_SYSCALL_BIT = 0x40000000

_COMMON = {  # one number on every architecture (Linux 5.1 and later)
    "pidfd_getfd": 438, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "open_tree_attr": 467, "quotactl_fd": 443, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "set_mempolicy_home_node": 450,
}  # fmt: skip
SYSCALLS: Mapping[str, Mapping[str, int]] = {
    "x86_64": {
        **_COMMON, "add_key": 248, "request_key": 249, "keyctl": 250, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "kcmp": 312, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "kexec_load": 246, "kexec_file_load": 320,
        "unshare": 272, "setns": 308, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "reboot": 169, "swapon": 167, "swapoff": 168, "settimeofday": 164, "clock_settime": 227,
        "clock_adjtime": 305, "open_by_handle_at": 304, "name_to_handle_at": 303, "acct": 163, "quotactl": 179,
        "syslog": 103, "lookup_dcookie": 212, "vhangup": 153, "mbind": 237, "set_mempolicy": 238,
        "get_mempolicy": 239, "migrate_pages": 256, "move_pages": 279, "fanotify_init": 300, "nfsservctl": 180,
        "iopl": 172, "ioperm": 173, "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156,
        "create_module": 174, "query_module": 178, "get_kernel_syms": 177,
        "clone": 56, "clone3": 435, "personality": 135,
    },
    "aarch64": {
        **_COMMON, "add_key": 217, "request_key": 218, "keyctl": 219, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "kcmp": 272, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "kexec_load": 104, "kexec_file_load": 294,
        "unshare": 97, "setns": 268, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "reboot": 142, "swapon": 224, "swapoff": 225, "settimeofday": 170, "clock_settime": 112,
        "clock_adjtime": 266, "open_by_handle_at": 265, "name_to_handle_at": 264, "acct": 89, "quotactl": 60,
        "syslog": 116, "lookup_dcookie": 18, "vhangup": 58, "mbind": 235, "set_mempolicy": 237,
        "get_mempolicy": 236, "migrate_pages": 238, "move_pages": 239, "fanotify_init": 262, "nfsservctl": 42,
        "clone": 220, "clone3": 435, "personality": 92,
    },
}  # fmt: skip
"""System call numbers per architecture: the refused ones and the three with their own rule."""

REFUSED = tuple(
    name for name in SYSCALLS["x86_64"] if name not in ("clone", "clone3", "personality")
)  # every name refused where the architecture has it
NAMESPACE_FLAGS = 0x7E020000
"""``CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET``:
``clone`` with any of them is refused (``CLONE_NEWTIME`` exists for ``unshare`` and ``clone3`` only)."""
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
"""``PER_LINUX``, ``UNAME26``, ``PER_LINUX32``, ``PER_LINUX32|UNAME26`` and the query: Docker's allowed values (no
``ADDR_NO_RANDOMIZE``, no ``READ_IMPLIES_EXEC``)."""

# -- classic BPF -----------------------------------------------------------------------------------------------
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_GREATER_EQUAL = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_ANY_BIT = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
"""Offsets in ``struct seccomp_data``: nr, arch, then args[0] (its low 32 bits first: little-endian ABIs only)."""

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000


class _Program:
    """Instructions with symbolic jump targets, resolved to the relative offsets BPF wants (at most 255)."""

    def __init__(self) -> None:
        self._code: list[tuple[int, str | int, str | int, int]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self._labels[name] = len(self._code)

    def load(self, offset: int) -> None:
        self._code.append((_LOAD_WORD, 0, 0, offset))

    def jump(self, code: int, value: int, if_true: str | int = 0, if_false: str | int = 0) -> None:
        self._code.append((code, if_true, if_false, value))

    def ret(self, value: int) -> None:
        self._code.append((_RETURN, 0, 0, value))

    def assemble(self) -> bytes:
        program = bytearray()
        for index, (code, if_true, if_false, value) in enumerate(self._code):
            offsets = [self._offset(index, target) for target in (if_true, if_false)]
            program += _INSTRUCTION.pack(code, offsets[0], offsets[1], value)
        return bytes(program)

    def _offset(self, index: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self._labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"seccomp jump to {target} out of range ({offset})")
        return offset


def build_filter(arch: str) -> bytes:
    """The compiled filter (``struct sock_filter[]``) for ``arch`` (a key of :data:`SYSCALLS`)."""
    numbers = SYSCALLS[arch]
    program = _Program()
    program.load(_ARCH)
    program.jump(_JUMP_EQUAL, AUDIT_ARCH[arch], 0, "kill")
    program.load(_NR)
    if arch == "x86_64":
        program.jump(_JUMP_GREATER_EQUAL, X32_SYSCALL_BIT, "kill", 0)
    program.jump(_JUMP_EQUAL, numbers["clone3"], "enosys", 0)
    program.jump(_JUMP_EQUAL, numbers["clone"], "clone", 0)
    program.jump(_JUMP_EQUAL, numbers["personality"], "personality", 0)
    for name in _refused(numbers):
        program.jump(_JUMP_EQUAL, numbers[name], "eperm", 0)
    program.ret(RET_ALLOW)
    program.label("clone")
    program.load(_ARG0_LOW)
    program.jump(_JUMP_ANY_BIT, NAMESPACE_FLAGS, "eperm", 0)
    program.ret(RET_ALLOW)
    program.label("personality")
    program.load(_ARG0_LOW)
    for value in PERSONALITIES:
        program.jump(_JUMP_EQUAL, value, "allow", 0)
    program.label("eperm")
    program.ret(RET_ERRNO | errno.EPERM)
    program.label("allow")
    program.ret(RET_ALLOW)
    program.label("enosys")
    program.ret(RET_ERRNO | errno.ENOSYS)
    program.label("kill")
    program.ret(RET_KILL_PROCESS)
    return program.assemble()


def _refused(numbers: Mapping[str, int]) -> Iterable[str]:
    return (name for name in REFUSED if name in numbers)


def machine() -> str:
    return os.uname().machine


def filter_for(arch: str) -> bytes | None:
    """The filter for this architecture, or None (logged) where the system call numbers are not known here: the
    sandbox then runs without one rather than with a filter that would refuse the wrong calls."""
    if arch not in SYSCALLS:
        LOG.warning("no seccomp filter for functions on %s (known: %s): kernel interfaces are not filtered",
                    arch, ", ".join(SYSCALLS))  # fmt: skip
        return None
    return build_filter(arch)
