"""Helpers shared by several test directories (importable as ``support``: pyproject sets pythonpath).

Process checks read /proc directly so they also see orphans; waits are bounded in count and time.
"""

from __future__ import annotations

import io
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``condition`` a bounded number of times; True as soon as it holds."""
    for _ in range(max(1, int(timeout_s / interval_s))):
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def build_zip(files: dict[str, str], links: dict[str, str | bytes] | None = None) -> bytes:
    """An in-memory deployment zip holding ``links`` (symlink name -> target, written first) and ``files``
    (name -> source)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, target in (links or {}).items():
            link = zipfile.ZipInfo(name)
            link.create_system = 3  # Unix: the mode below is a symlink's
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            link.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(link, target)
        for name, source in files.items():
            archive.writestr(name, source)
    return buffer.getvalue()


def processes_under(directory: Path) -> set[int]:
    """Live processes whose working directory is ``directory`` or below it (psutil: any OS)."""
    import psutil

    target = directory.resolve()
    found: set[int] = set()
    for process in psutil.process_iter():
        try:
            cwd = Path(process.cwd())
            if (cwd == target or target in cwd.parents) and process.status() != psutil.STATUS_ZOMBIE:
                found.add(process.pid)
        except (psutil.Error, OSError):
            continue
    return found
