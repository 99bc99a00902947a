"""Helpers shared by several test directories (importable as ``support``: pyproject sets pythonpath).

Waits are bounded in count and time. Whether a process runs is asked of the project's one process helper
(:mod:`embedded_localstack.control.processes`); who listens on a port is read from /proc (it also sees orphans).
"""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from embedded_localstack.control.processes import is_running
from lambda_url_harness.localstack_handle import LocalStackHandle

alive = is_running
"""True while ``pid`` exists and is not a zombie (the tests' name for the project's helper)."""


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``condition`` a bounded number of times; True as soon as it holds."""
    for _ in range(max(1, int(timeout_s / interval_s))):
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def zip_entry(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    """An archive entry for a regular file with a Unix mode, as ``zip`` and the packagers write it (0644: AWS needs
    code files world-readable; ``ZipFile.writestr`` with a bare name writes 0600, which AWS cannot read)."""
    entry = zipfile.ZipInfo(name)
    entry.create_system = 3
    entry.external_attr = (stat.S_IFREG | mode) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    return entry


def build_zip(files: dict[str, str], links: dict[str, str | bytes] | None = None) -> bytes:
    """An in-memory deployment zip holding ``links`` (symlink name -> target, written first) and ``files``
    (name -> source, mode 0644)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, target in (links or {}).items():
            link = zipfile.ZipInfo(name)
            link.create_system = 3  # Unix: the mode below is a symlink's
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            link.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(link, target)
        for name, source in files.items():
            archive.writestr(zip_entry(name), source)
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


EMBEDDED_ENTRY_MODULE = "embedded_localstack.service.main"


def listening_pids(port: int) -> set[int]:
    """Local processes with a listening TCP socket on ``port`` (from /proc: sockets' inodes, then fds)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    pids = set()
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            links = {fd.readlink().name for fd in (process / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            pids.add(int(process.name))
    return pids


def runs_embedded_localstack(pid: int) -> bool:
    try:
        return EMBEDDED_ENTRY_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def is_embedded_localstack(localstack: LocalStackHandle) -> bool:
    """True when the session's LocalStack is our embedded one, whose Function URLs answer as AWS's do.

    Tests that run against any LocalStack assert AWS's answer then, and LocalStack's own otherwise."""
    if localstack.source in ("embedded", "docker"):
        return localstack.source == "embedded"
    # A running or external LocalStack may still be ours (`make start`): ask who listens on its port.
    split = urlsplit(localstack.endpoint)
    if split.hostname not in ("127.0.0.1", "localhost", "::1") or split.port is None:
        return False
    return any(runs_embedded_localstack(pid) for pid in listening_pids(split.port))


ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "LOCALSTACK_ENDPOINT", "LOCALSTACK_TEST_SERVICES")


def pytest_project(project: Path, state_dir: Path, endpoint: str | None = None) -> dict[str, str]:
    """Make ``project`` a pytest rootdir (no cache provider) and return the environment for a pytest run in it: this
    one's, with the harness state in ``state_dir``, LocalStack at ``endpoint`` (``--localstack=external``) or none
    named, and no services asked for."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    environment = {name: value for name, value in os.environ.items() if name not in ENDPOINT_VARIABLES}
    environment["LAMBDA_URL_HARNESS_STATE_DIR"] = str(state_dir)
    if endpoint is not None:
        environment["LOCALSTACK_ENDPOINT"] = endpoint
    return environment
