"""What the numbers were measured on, and how much CPU a process tree used (from /proc)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from embedded_localstack.control.lifecycle import process_tree

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def describe() -> dict[str, str | int | float]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    terraform = subprocess.run(
        ["terraform", "version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.splitlines()
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "terraform": terraform[0] if terraform else "unknown",
        "load_average_1m_at_start": os.getloadavg()[0],
    }


def is_running(pid: int) -> bool:
    """True unless ``pid`` is gone or a zombie (ended, waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(root_pid: int) -> tuple[float, float]:
    """(CPU of ``root_pid`` itself, CPU of its live descendants: the function processes)."""
    descendants = process_tree(root_pid) - {root_pid}
    return cpu_seconds(root_pid), sum(cpu_seconds(pid) for pid in descendants)
