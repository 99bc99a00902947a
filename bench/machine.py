"""What the numbers were measured on, and how much CPU a process tree used."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import psutil

from embedded_localstack.control.processes import process_tree


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far (0 if it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def tree_cpu_seconds(root_pid: int) -> tuple[float, float]:
    """(CPU of ``root_pid`` itself, CPU of its live descendants: the function processes)."""
    descendants = process_tree(root_pid) - {root_pid}
    return cpu_seconds(root_pid), sum(cpu_seconds(pid) for pid in descendants)
