#!/usr/bin/env python3
"""Build a deterministic Lambda deployment zip from a source directory.

Run by the module's ``terraform_data.package`` local-exec (standard library only, so
any python3 will do). The same sources always give byte-identical zips: entries are
sorted, timestamps are fixed at 1980-01-01 00:00:00, modes are 0644, the "made by"
system is Unix, and ``__pycache__``/``*.pyc``/``*.pyo`` are left out (the same filter
as the module's content hash in main.tf). The zip is written to a temporary file and
renamed, so concurrent builds of the same sources never see a half-written archive.

Usage: package_lambda.py --source-dir lambda --output builds/lambda-<hash>.zip
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("package_lambda")

FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""The earliest time a zip can record; any fixed value makes the archive reproducible."""

FILE_MODE = 0o100644
"""Regular file, rw-r--r--: Lambda only needs to read the code."""

UNIX_SYSTEM = 3
"""ZIP "version made by" host; zipfile defaults to 0 on Windows, which changes the bytes."""


class PackagingError(RuntimeError):
    """The sources cannot be packaged; the message says why."""


def is_excluded(relative: Path) -> bool:
    """Byte-code caches are build artefacts of whoever imported the sources, not code."""
    return "__pycache__" in relative.parts or relative.suffix in {".pyc", ".pyo"}


def source_files(source_dir: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) for each file to package, sorted by archive name."""
    entries = []
    for path in source_dir.rglob("*"):
        relative = path.relative_to(source_dir)
        if path.is_file() and not is_excluded(relative):
            entries.append((relative.as_posix(), path))
    yield from sorted(entries)


def build_zip(source_dir: Path, output: Path) -> list[str]:
    """Write the deterministic zip of ``source_dir`` to ``output``; return the archive names."""
    if not source_dir.is_dir():
        raise PackagingError(f"source directory {source_dir} does not exist")
    files = list(source_files(source_dir))
    if not files:
        raise PackagingError(f"source directory {source_dir} holds no files to package")
    output.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for name, path in files:
                info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = UNIX_SYSTEM
                info.external_attr = FILE_MODE << 16
                archive.writestr(info, path.read_bytes(), compresslevel=9)
        temporary.chmod(0o644)
        temporary.replace(output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return [name for name, _ in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, required=True, help="directory whose files go into the zip")
    parser.add_argument("--output", type=Path, required=True, help="path of the zip to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="package_lambda: %(message)s")
    try:
        names = build_zip(args.source_dir, args.output)
    except (PackagingError, OSError) as exc:
        print(f"package_lambda: error: {exc}", file=sys.stderr)
        return 1
    log.info("wrote %s (%d files: %s)", args.output, len(names), ", ".join(names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
