"""The one guarded unzip of function code: no entry may be written outside the code directory, and nothing an
archive declares is read into memory before it is checked.

LocalStack 4.9.2 unpacks code with ``localstack.utils.archives.unzip`` (the ``unzip`` command, else
``zipfile``): a zip entry that is a symlink to ``/some/where`` followed by an entry ``link/file`` writes outside
the code directory. Here every entry is checked before anything is written, in this order:

1. the number of entries, counted in the central directory before ``zipfile`` parses it (which costs ~470 bytes
   of memory per entry): at most :data:`MAX_ENTRIES`;
2. the sizes the entries declare (``zipfile`` never writes more than an entry declares): together under AWS's
   unzipped limit, and a symlink's target at most :data:`MAX_LINK_TARGET_BYTES` (the kernel's limit), so an
   entry that "inflates" is refused without being read;
3. names: absolute names, ``..`` components, entries below a symlink;
4. symlinks, resolved as the kernel resolves them (each link's target from its own directory, following the
   archive's other links on the way): one whose target leaves the code directory (``d/up -> ..`` then
   ``esc -> d/up/../..``), forms a loop or nests more than :data:`MAX_LINK_HOPS` deep is refused.

Refusals use AWS's ``InvalidParameterValueException`` wording. Regular files and directories are written first
and symlinks (that stay inside) last, so no write ever goes through a symlink. Standard library only.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from embedded_localstack.service.limits import MAX_UNZIPPED_CODE_BYTES, UNZIPPED_TOO_LARGE_MESSAGE

REFUSED_MESSAGE = "Could not unzip uploaded file. Please check your file, then try to upload again."
MAX_ENTRIES = 65_535
"""Entries of one archive (the count a zip without zip64 holds); more would cost LocalStack ~30 MB per 65,535."""
MAX_LINK_TARGET_BYTES = 4095
"""Linux's longest symlink target (PATH_MAX minus its terminating NUL)."""
MAX_LINK_HOPS = 40
"""Linux's MAXSYMLINKS: symlinks followed while resolving one path."""
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_RECORD = struct.Struct("<4s24xHHH12x")
"""A central directory record's fixed part (46 bytes): signature, then the lengths of name, extra field, comment."""


class UnsafeArchiveError(ValueError):
    """An entry of the archive would be written outside the code directory (or is not a regular file/dir/link)."""

    message = REFUSED_MESSAGE


class ArchiveTooLargeError(UnsafeArchiveError):
    """The entries declare more than AWS unpacks."""

    message = UNZIPPED_TOO_LARGE_MESSAGE


class TooManyEntriesError(UnsafeArchiveError):
    """More entries than :data:`MAX_ENTRIES` (ours, not AWS's: AWS documents no such limit)."""

    message = f"Could not unzip uploaded file: embedded LocalStack unpacks archives of at most {MAX_ENTRIES} entries."


UNIX = 3
"""``ZipInfo.create_system`` of archives made on Unix: their external attributes carry the file's mode."""


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == UNIX and stat.S_ISLNK(info.external_attr >> 16)


def _inside(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in name and "\0" not in name


def _key(name: str) -> str:
    """An entry's path as the file system will know it (``a/./b/`` and ``a//b`` are ``a/b``)."""
    return "/".join(PurePosixPath(name).parts)


def directory_records(data: IO[bytes], limit: int) -> int:
    """The records of the archive's central directory, found as ``zipfile`` finds them (end record, zip64 too) and
    counted up to ``limit + 1`` without building anything; 0 if there is no end record (not a zip)."""
    size = data.seek(0, io.SEEK_END)
    tail_start = max(0, size - _END_RECORD.size - 0xFFFF)
    data.seek(tail_start)
    tail = data.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END_RECORD.size:
        return 0
    directory_size = _END_RECORD.unpack_from(tail, at)[5]
    directory_end = tail_start + at
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= _ZIP64_END_RECORD.size and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record = tail[locator_at - _ZIP64_END_RECORD.size : locator_at]
        if record[:4] == b"PK\x06\x06":
            directory_size = _ZIP64_END_RECORD.unpack(record)[8]
            directory_end = tail_start + locator_at - _ZIP64_END_RECORD.size
    position, records = directory_end - directory_size, 0
    while position < directory_end and records <= limit:
        data.seek(position)
        header = data.read(_DIRECTORY_RECORD.size)
        if len(header) < _DIRECTORY_RECORD.size or header[:4] != b"PK\x01\x02":
            break  # zipfile refuses the archive there
        name, extra, comment = _DIRECTORY_RECORD.unpack(header)[-3:]
        position += _DIRECTORY_RECORD.size + name + extra + comment
        records += 1
    return records


def link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """A symlink entry's target, read only up to the kernel's limit."""
    if info.file_size > MAX_LINK_TARGET_BYTES:
        raise UnsafeArchiveError(f"symlink {info.filename!r} declares a {info.file_size}-byte target")
    with archive.open(info) as entry:
        target = entry.read(MAX_LINK_TARGET_BYTES + 1)
    if len(target) > MAX_LINK_TARGET_BYTES:
        raise UnsafeArchiveError(f"symlink {info.filename!r} has a target over {MAX_LINK_TARGET_BYTES} bytes")
    return target.decode("utf-8", errors="replace")


class _LinkResolver:
    """Where each symlink of the archive leads, resolved as the kernel would (None: outside, a loop, too deep)."""

    def __init__(self, links: dict[str, str]) -> None:
        self._links = links
        self._resolved: dict[str, tuple[str, ...] | None] = {}
        self._resolving: set[str] = set()

    def location(self, link: str, depth: int = 0) -> tuple[str, ...] | None:
        if link in self._resolved:
            return self._resolved[link]
        if depth > MAX_LINK_HOPS or link in self._resolving:
            return None
        self._resolving.add(link)
        found = self._walk(PurePosixPath(link).parent.parts, self._links[link], depth + 1)
        self._resolving.discard(link)
        self._resolved[link] = found
        return found

    def _walk(self, start: tuple[str, ...], target: str, depth: int) -> tuple[str, ...] | None:
        if target.startswith("/"):
            return None
        current = list(start)
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    return None  # the parent of the code directory
                current.pop()
                continue
            current.append(part)
            if (key := "/".join(current)) in self._links:
                followed = self.location(key, depth)
                if followed is None:
                    return None
                current = list(followed)
        return tuple(current)


def check_archive(archive: zipfile.ZipFile) -> None:
    """Raise UnsafeArchiveError for the first entry that could write outside the code directory (sizes first)."""
    infos = archive.infolist()
    if sum(info.file_size for info in infos) >= MAX_UNZIPPED_CODE_BYTES:
        raise ArchiveTooLargeError(f"the entries declare {sum(info.file_size for info in infos)} bytes")
    links: dict[str, str] = {}
    for info in infos:
        if not _inside(info.filename):
            raise UnsafeArchiveError(f"entry {info.filename!r} leaves the code directory")
        if _is_symlink(info):
            if _key(info.filename) in links:
                raise UnsafeArchiveError(f"symlink {info.filename!r} appears twice")
            links[_key(info.filename)] = link_target(archive, info)
    for info in infos:
        if any(str(parent) in links for parent in PurePosixPath(_key(info.filename)).parents):
            raise UnsafeArchiveError(f"entry {info.filename!r} is below a symlink")
    resolver = _LinkResolver(links)
    for name, target in links.items():
        if resolver.location(name) is None:
            raise UnsafeArchiveError(f"symlink {name!r} -> {target!r} leaves the code directory (or loops)")


def check_archive_file(data: IO[bytes]) -> None:
    """Check an archive given as a binary file (entries counted before ``zipfile`` reads its directory)."""
    if directory_records(data, MAX_ENTRIES) > MAX_ENTRIES:
        raise TooManyEntriesError(f"more than {MAX_ENTRIES} entries")
    data.seek(0)
    with zipfile.ZipFile(data) as archive:
        check_archive(archive)


def check_archive_bytes(data: bytes | IO[bytes]) -> None:
    check_archive_file(io.BytesIO(data) if isinstance(data, bytes) else data)


def safe_unzip(path: str | Path, target_dir: str | Path) -> None:
    """Unpack ``path`` into ``target_dir`` (checked first; files and directories, then symlinks)."""
    target = Path(target_dir)
    with Path(path).open("rb") as data:
        check_archive_file(data)
        data.seek(0)
        with zipfile.ZipFile(data) as archive:
            links: list[zipfile.ZipInfo] = []
            directories: dict[Path, int] = {}
            for info in archive.infolist():
                if _is_symlink(info):
                    links.append(info)
                    continue
                written = Path(archive.extract(info, target))
                mode = (info.external_attr >> 16) & 0o777
                if not info.is_dir():
                    written.chmod(mode or 0o644)
                elif mode and info.create_system == UNIX:
                    directories[written] = mode
            for info in links:
                link = target / _key(info.filename)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(link_target(archive, info))
    # The archive's modes, as AWS keeps them: what the function's user may not read stays unreadable. Directories
    # last (deepest first), so that one without write permission was still filled; the others (and the code dir,
    # /var/task) 0755, whatever LocalStack's umask.
    for root, names, _ in sorted(os.walk(target), key=lambda entry: len(entry[0]), reverse=True):
        for name in names:
            path = Path(root) / name
            if not path.is_symlink():
                path.chmod(directories.get(path, 0o755))
    target.chmod(0o755)
