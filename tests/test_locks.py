"""Every lock file pins each package to one exact version, and the versions it pins satisfy its
input: an input edited without `make lock` fails here, naming the command."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_REQUIREMENTS = REPO_ROOT / "embedded_localstack" / "requirements"


def requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a requirements file, without comments and blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def harness_inputs() -> list[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["dev"]]


def lock_inputs() -> dict[str, list[str]]:
    """Lock file (relative to the repo root) -> the requirements it is compiled from."""
    inputs = {
        "requirements/harness.lock": harness_inputs(),
        "requirements/scan.lock": requirement_lines(REPO_ROOT / "requirements" / "scan.in"),
    }
    for source in sorted(PACKAGE_REQUIREMENTS.glob("*.in")):
        inputs[str(source.with_suffix(".lock").relative_to(REPO_ROOT))] = requirement_lines(source)
    return inputs


def pins(lock: Path) -> dict[str, str]:
    """Name -> exact version for this interpreter and platform (a universal lock has marker lines)."""
    pinned: dict[str, str] = {}
    for line in requirement_lines(lock):
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{lock.name}: not an exact pin: {line}"
        if requirement.marker is None or requirement.marker.evaluate():
            pinned[canonicalize_name(requirement.name)] = specifiers[0].version
    return pinned


@pytest.mark.parametrize(
    ("lock", "inputs"), [pytest.param(*item, id=item[0]) for item in sorted(lock_inputs().items())]
)
def test_lock_satisfies_its_input(lock: str, inputs: list[str]) -> None:
    path = REPO_ROOT / lock
    assert path.is_file(), f"{lock} is missing: run `make lock`"
    pinned = pins(path)
    for line in inputs:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} pins no {requirement.name} ({line}): run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={pinned[name]}, outside {line}: run `make lock`"
        )


def test_package_ships_the_requirements() -> None:
    """LocalStack's venv is provisioned from the package's own files at run time."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]["embedded_localstack"]
    assert {"requirements/*.in", "requirements/*.lock"} <= set(package_data)
    assert (PACKAGE_REQUIREMENTS / "localstack.lock").is_file()


def test_the_javascript_sdk_lock_matches_its_manifest() -> None:
    """`npm ci` installs package-lock.json, which must hold exactly package.json's pins (`make lock` relocks)."""
    sdk = PACKAGE_REQUIREMENTS / "nodejs-sdk"
    manifest = json.loads((sdk / "package.json").read_text())["dependencies"]
    lock = json.loads((sdk / "package-lock.json").read_text())["packages"]
    assert lock[""]["dependencies"] == manifest, "package-lock.json is stale: run `make lock`"
    for name, version in manifest.items():
        assert lock[f"node_modules/{name}"]["version"] == version, f"{name}: run `make lock`"
