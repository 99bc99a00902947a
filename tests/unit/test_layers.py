"""A function's /opt tree from its layers (service/layers.py): AWS's order, its limits and messages, on real files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from embedded_localstack.service.code_unpacking import safe_unzip
from embedded_localstack.service.layers import (
    MAX_UNZIPPED_BYTES,
    LayerLimitError,
    archive_unzipped_size,
    build_opt,
    check_limits,
)


def layer(tmp_path: Path, name: str, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A layer as LocalStack hands it over: its zip unpacked by the guarded unzip."""
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path, content in files.items():
            zipped.writestr(path, content)
        for path, target in (links or {}).items():
            info = zipfile.ZipInfo(path)
            info.create_system, info.external_attr = 3, (0o120777 << 16)
            zipped.writestr(info, target)
    directory = tmp_path / name
    safe_unzip(archive, directory)
    return directory


def test_layers_are_laid_out_in_order_later_ones_winning(tmp_path):
    first = layer(tmp_path, "one", {"python/shared.py": b"ONE = 1\n", "python/only_one.py": b"", "bin/tool": b"1"})
    second = layer(tmp_path, "two", {"python/shared.py": b"TWO = 2\n", "nodejs/node_modules/m/index.js": b""})
    opt = build_opt([first, second], tmp_path / "opt")
    assert (opt / "python" / "shared.py").read_bytes() == b"TWO = 2\n"
    assert (opt / "python" / "only_one.py").is_file() and (opt / "bin" / "tool").read_bytes() == b"1"
    assert (opt / "nodejs" / "node_modules" / "m" / "index.js").is_file()
    # hard links: building costs no copy of the content, and the layer's own files are untouched
    assert (opt / "bin" / "tool").stat().st_ino == (first / "bin" / "tool").stat().st_ino
    assert (first / "python" / "shared.py").read_bytes() == b"ONE = 1\n"


def test_a_later_layer_replaces_a_file_with_a_directory_and_a_symlink_with_a_file(tmp_path):
    first = layer(tmp_path, "one", {"lib/thing": b"file", "python/target.py": b""}, {"python/link.py": "target.py"})
    second = layer(tmp_path, "two", {"lib/thing/inner.so": b"dir now", "python/link.py": b"real = 1\n"})
    opt = build_opt([first, second], tmp_path / "opt")
    assert (opt / "lib" / "thing" / "inner.so").read_bytes() == b"dir now"
    assert not (opt / "python" / "link.py").is_symlink()
    assert (opt / "python" / "link.py").read_bytes() == b"real = 1\n"
    assert (opt / "python" / "target.py").read_bytes() == b""  # not written through the old link


def test_symlinks_inside_a_layer_are_kept(tmp_path):
    only = layer(tmp_path, "one", {"lib/libx.so.1": b"elf"}, {"lib/libx.so": "libx.so.1"})
    opt = build_opt([only], tmp_path / "opt")
    assert (opt / "lib" / "libx.so").readlink() == Path("libx.so.1")
    assert (opt / "lib" / "libx.so").read_bytes() == b"elf"


def test_a_python_layer_is_importable_from_awss_paths(tmp_path):
    only = layer(tmp_path, "one", {"python/from_layer.py": b"VALUE = 'layer'\n",
                                   "python/lib/python3.11/site-packages/deep.py": b"VALUE = 'site'\n"})  # fmt: skip
    opt = build_opt([only], tmp_path / "opt")
    paths = [str(opt / "python" / "lib" / "python3.11" / "site-packages"), str(opt / "python")]
    code = f"import sys; sys.path[:0] = {paths!r}; import from_layer, deep; print(from_layer.VALUE, deep.VALUE)"
    completed = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert completed.stdout.split() == ["layer", "site"]


def test_more_than_five_layers_is_awss_error_and_nothing_is_written(tmp_path):
    layers = [layer(tmp_path, f"l{n}", {f"f{n}": b"x"}) for n in range(6)]
    with pytest.raises(LayerLimitError, match=r"^Cannot reference more than 5 layers\.$"):
        build_opt(layers, tmp_path / "opt")
    assert not (tmp_path / "opt").exists()
    assert build_opt(layers[:5], tmp_path / "opt").is_dir()


def test_code_and_layers_over_250_mb_unzipped_is_awss_error(tmp_path):
    check_limits(MAX_UNZIPPED_BYTES - 10, [10])  # exactly at the limit is allowed
    with pytest.raises(LayerLimitError) as raised:
        check_limits(MAX_UNZIPPED_BYTES - 10, [6, 5])
    assert str(raised.value) == (
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. "
        f"The actual size is {MAX_UNZIPPED_BYTES + 1} bytes."
    )


def test_the_function_code_counts_towards_the_limit(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "big.bin").write_bytes(b"\0" * 1000)
    only = layer(tmp_path, "one", {"f": b"\0" * 10})
    monkeypatch.setattr("embedded_localstack.service.layers.MAX_UNZIPPED_BYTES", 1005)
    monkeypatch.setattr(
        "embedded_localstack.service.layers.TOO_LARGE_MESSAGE", "over {size}"
    )  # the limit itself is tested above; here: the code's bytes are counted
    with pytest.raises(LayerLimitError, match=r"^over 1010$"):
        build_opt([only], tmp_path / "opt", code_dir=code)


def test_an_archives_unzipped_size_is_read_without_extracting(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("dir/", b"")
        zipped.writestr("dir/zeros", b"\0" * 100_000)
    assert archive.stat().st_size < 10_000 and archive_unzipped_size(archive) == 100_000
