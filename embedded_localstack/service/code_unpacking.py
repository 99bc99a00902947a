"""The one guarded unzip of function code: no entry may be written outside the code directory.

LocalStack 4.9.2 unpacks code with ``localstack.utils.archives.unzip`` (the ``unzip`` command, else
``zipfile``): a zip entry that is a symlink to ``/some/where`` followed by an entry ``link/file`` writes outside
the code directory. Here every entry is checked before anything is written: absolute names, ``..`` components,
and symlinks whose target leaves the code directory are refused with AWS's ``InvalidParameterValueException``
wording; regular files and directories are written first and symlinks (that stay inside) last, so no write
ever goes through a symlink. Standard library only.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

REFUSED_MESSAGE = "Could not unzip uploaded file. Please check your file, then try to upload again."


class UnsafeArchiveError(ValueError):
    """An entry of the archive would be written outside the code directory (or is not a regular file/dir/link)."""


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _inside(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in name and "\0" not in name


def check_archive(archive: zipfile.ZipFile) -> None:
    """Raise UnsafeArchiveError for the first entry that could write outside the code directory."""
    links: set[str] = set()
    for info in archive.infolist():
        if not _inside(info.filename):
            raise UnsafeArchiveError(f"entry {info.filename!r} leaves the code directory")
        if _is_symlink(info):
            target = archive.read(info).decode("utf-8", errors="replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(info.filename), target))
            if target.startswith("/") or not _inside(resolved) or resolved == "..":
                raise UnsafeArchiveError(f"symlink {info.filename!r} -> {target!r} leaves the code directory")
            links.add(info.filename.rstrip("/"))
    for info in archive.infolist():
        parents = PurePosixPath(info.filename).parents
        if any(str(parent) in links for parent in parents):
            raise UnsafeArchiveError(f"entry {info.filename!r} is below a symlink")


def check_archive_bytes(data: bytes | IO[bytes]) -> None:
    import io

    with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
        check_archive(archive)


def safe_unzip(path: str | Path, target_dir: str | Path) -> None:
    """Unpack ``path`` into ``target_dir`` (checked first; files and directories, then symlinks)."""
    target = Path(target_dir)
    with zipfile.ZipFile(path) as archive:
        check_archive(archive)
        links = []
        for info in archive.infolist():
            if _is_symlink(info):
                links.append(info)
                continue
            written = Path(archive.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if not info.is_dir():
                written.chmod(mode or 0o644)
        for info in links:
            link = target / info.filename
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(archive.read(info).decode())
