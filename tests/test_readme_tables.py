"""README.md's Inputs and Outputs tables match variables.tf and outputs.tf exactly:
same names in the same order, same descriptions, types and defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes (and escapes) of HCL string literals in some versions."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if isinstance(value, list):
        return [unquote(item) for item in value]
    if isinstance(value, dict):
        return {unquote(key): unquote(item) for key, item in value.items() if key != "__is_block__"}
    return value


def type_expression(value: str) -> str:
    """A variable's type without interpolation wrapping or whitespace, e.g. ``map(string)``."""
    match = re.fullmatch(r"\$\{(.*)\}", value, re.S)
    return re.sub(r"\s+", "", match.group(1) if match else value)


def blocks(path: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    with path.open() as stream:
        document = hcl2.load(stream)
    return [(unquote(name), body) for block in document.get(kind, []) for name, body in block.items()]


def readme_table(heading: str) -> list[dict[str, str]]:
    """Rows of the first Markdown table after ``## <heading>``, keyed by column name."""
    text = README.read_text()
    section = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"README.md has no '## {heading}' section"
    lines = [line for line in section.group(1).splitlines() if line.startswith("|")]
    assert len(lines) >= 2, f"README.md '## {heading}' has no table"

    def cells(line: str) -> list[str]:
        # Split on unescaped pipes only; "\|" is a literal pipe inside a cell.
        return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    header = cells(lines[0])
    return [dict(zip(header, cells(line), strict=True)) for line in lines[2:]]


def code(cell: str) -> str:
    match = re.fullmatch(r"`(.*)`", cell)
    assert match, f"expected a `code` cell, got {cell!r}"
    return match.group(1)


def rows_and_blocks(heading: str, path: str, kind: str) -> list[tuple[dict[str, str], str, dict[str, Any]]]:
    """The README table's rows next to the HCL blocks they describe: same names, same order, same descriptions."""
    hcl = blocks(REPO_ROOT / path, kind)
    rows = readme_table(heading)
    assert [code(row["Name"]) for row in rows] == [name for name, _ in hcl]
    for row, (name, body) in zip(rows, hcl, strict=True):
        assert row["Description"] == unquote(body["description"]), name
    return [(row, name, body) for row, (name, body) in zip(rows, hcl, strict=True)]


def test_inputs_table_matches_variables_tf() -> None:
    for row, name, body in rows_and_blocks("Inputs", "variables.tf", "variable"):
        assert type_expression(code(row["Type"])) == type_expression(body["type"]), name
        expected_default = unquote(body["default"]) if "default" in body else "required"
        shown = row["Default"]
        assert (json.loads(code(shown)) if shown != "required" else shown) == expected_default, name


def test_outputs_table_matches_outputs_tf() -> None:
    assert rows_and_blocks("Outputs", "outputs.tf", "output")


@pytest.mark.parametrize("path", ["variables.tf", "outputs.tf"])
def test_every_block_is_described(path: str) -> None:
    kind = "variable" if path == "variables.tf" else "output"
    for name, body in blocks(REPO_ROOT / path, kind):
        assert unquote(body.get("description", "")).strip(), f"{kind} {name} has no description"
        if kind == "variable":
            assert "type" in body, f"variable {name} has no type"
