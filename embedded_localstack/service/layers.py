"""A function's layers as AWS lays them out: one ``/opt`` tree, the layers extracted in the function's order.

AWS extracts each layer into ``/opt`` in the order the function lists them (a file of a later layer replaces the
same path of an earlier one), read-only; the runtimes look there: ``/opt/python``,
``/opt/python/lib/python3.X/site-packages``, ``/opt/nodejs/node_modules``, ``/opt/nodejs/node<N>/node_modules``,
``/opt/bin`` (on ``PATH``), ``/opt/lib`` (on ``LD_LIBRARY_PATH``). Limits (AWS docs "Lambda quotas"): at most 5 layers
(``Cannot reference more than 5 layers.``), and the function's code and its layers unzipped at most 262144000 bytes
together (``Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size
is N bytes.``), both ``InvalidParameterValueException``.

LocalStack stores a layer version's archive and unpacks it (``S3Code.prepare_for_execution``, through the guarded
unzip, so no entry leaves its directory); this module takes those unpacked directories, checks the limits and builds
the tree with hard links (copies across file systems): building is proportional to the number of files, not their
size. Standard library only.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

from embedded_localstack.service.sandbox.launch import fill_task_root

MAX_LAYERS = 5
MAX_UNZIPPED_BYTES = 262_144_000
TOO_MANY_LAYERS_MESSAGE = f"Cannot reference more than {MAX_LAYERS} layers."
TOO_LARGE_MESSAGE = (
    f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} bytes. "
    "The actual size is {size} bytes."
)


class LayerLimitError(ValueError):
    """The function breaks one of AWS's layer limits; the message is AWS's."""


def unzipped_size(directory: Path) -> int:
    """Bytes of the regular files below ``directory`` (symlinks count as nothing, as in a zip's sizes)."""
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def archive_unzipped_size(archive: Path) -> int:
    """Bytes a zip unpacks to, from its directory (nothing is extracted)."""
    with zipfile.ZipFile(archive) as opened:
        return sum(info.file_size for info in opened.infolist() if not info.is_dir())


def check_limits(code_size: int, layer_sizes: Sequence[int]) -> None:
    """AWS's limits on a function's layers; raise LayerLimitError with AWS's message."""
    if len(layer_sizes) > MAX_LAYERS:
        raise LayerLimitError(TOO_MANY_LAYERS_MESSAGE)
    total = code_size + sum(layer_sizes)
    if total > MAX_UNZIPPED_BYTES:
        raise LayerLimitError(TOO_LARGE_MESSAGE.format(size=total))


def build_opt(layer_dirs: Sequence[Path], target: Path, code_dir: Path | None = None) -> Path:
    """``target`` becomes the function's ``/opt``: every layer's files in order, later layers winning. The limits
    are checked first (with the function's ``code_dir`` when given); nothing is written when they fail."""
    check_limits(unzipped_size(code_dir) if code_dir else 0, [unzipped_size(layer) for layer in layer_dirs])
    target.mkdir(parents=True, exist_ok=True)
    for layer in layer_dirs:
        _overlay(Path(layer), target)
    return target


def _overlay(source: Path, target: Path) -> None:
    """Put ``source``'s entries into ``target``: what they replace goes first, then the one routine that fills a task
    root with hard links (copies across file systems) and symlinks as they are."""
    for root, dirs, files in os.walk(source):
        relative = Path(root).relative_to(source)
        for name in [*dirs, *files]:
            _replace_conflicting(Path(root) / name, target / relative / name)
        dirs[:] = [name for name in dirs if not (Path(root) / name).is_symlink()]  # a link is placed, not entered
    fill_task_root(source, target)


def _replace_conflicting(entry: Path, destination: Path) -> None:
    """A later layer's entry replaces what an earlier one put at that path (a directory merges with a directory)."""
    if not (destination.exists() or destination.is_symlink()):
        return
    if entry.is_dir() and not entry.is_symlink() and destination.is_dir() and not destination.is_symlink():
        return
    if destination.is_dir() and not destination.is_symlink():
        shutil.rmtree(destination)
    else:
        destination.unlink()
