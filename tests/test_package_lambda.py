"""scripts/package_lambda.py: the deterministic zip builder run by terraform_data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGER = REPO_ROOT / "scripts" / "package_lambda.py"


def package(source_dir: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """Run the packager as terraform does: a separate interpreter process."""
    return subprocess.run(
        [sys.executable, str(PACKAGER), "--source-dir", str(source_dir), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def make_sources(root: Path, mtime: int, mode: int) -> Path:
    files = {
        "zeta.py": "Z = 1\n",
        "handler.py": "def handler(event, context):\n    return event\n",
        "pkg/__init__.py": "",
        "pkg/util.py": "X = 2\n",
        "__pycache__/handler.cpython-311.pyc": "junk",
        "pkg/__pycache__/util.cpython-311.pyc": "junk",
        "stale.pyc": "junk",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        os.utime(path, (mtime, mtime))
    return root


def test_same_sources_give_identical_bytes_whatever_the_mtimes_and_modes(tmp_path: Path) -> None:
    first = make_sources(tmp_path / "a", mtime=1_000_000_000, mode=0o600)
    second = make_sources(tmp_path / "b", mtime=1_700_000_000, mode=0o755)
    assert package(first, tmp_path / "a.zip").returncode == 0
    assert package(second, tmp_path / "b.zip").returncode == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_entries_are_sorted_fixed_and_exclude_bytecode(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src", mtime=1_600_000_000, mode=0o755)
    result = package(sources, tmp_path / "out" / "code.zip")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "out" / "code.zip") as archive:
        entries = archive.infolist()
        assert [entry.filename for entry in entries] == ["handler.py", "pkg/__init__.py", "pkg/util.py", "zeta.py"]
        assert archive.read("pkg/util.py") == b"X = 2\n"
        assert archive.testzip() is None
    for entry in entries:
        assert entry.date_time == (1980, 1, 1, 0, 0, 0)
        assert entry.external_attr >> 16 == 0o100644
        assert entry.create_system == 3
        assert entry.compress_type == zipfile.ZIP_DEFLATED


def test_leaves_no_temporary_files(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src", mtime=1_600_000_000, mode=0o644)
    assert package(sources, tmp_path / "out" / "code.zip").returncode == 0
    assert package(sources, tmp_path / "out" / "code.zip").returncode == 0  # overwrite in place
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["code.zip"]


@pytest.mark.parametrize(("setup", "message"), [("missing", "does not exist"), ("empty", "holds no files")])
def test_bad_source_dir_is_a_clear_error(tmp_path: Path, setup: str, message: str) -> None:
    source_dir = tmp_path / "src"
    if setup == "empty":
        (source_dir / "__pycache__").mkdir(parents=True)
        (source_dir / "__pycache__" / "x.pyc").write_text("junk")
    result = package(source_dir, tmp_path / "code.zip")
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "code.zip").exists()
