"""The one module of LocalStack changes refuses a localstack-core it was not written for (real LocalStack venv)."""

from __future__ import annotations

import subprocess

import pytest

from embedded_localstack.control.lifecycle import default_python

pytestmark = pytest.mark.embedded

PROBE = """
from importlib import metadata
import embedded_localstack.service.patches as patches
real = metadata.version
metadata.version = lambda name: {installed!r} if name == "localstack-core" else real(name)
try:
    patches.apply_all()
except patches.UnsupportedLocalStackError as error:
    print("refused:", error)
else:
    print("applied")
"""


@pytest.mark.parametrize(("installed", "expected"), [("4.10.0", "refused: "), ("4.9.2", "applied")])
def test_patches_apply_only_to_the_version_they_were_written_for(installed, expected):
    completed = subprocess.run(
        [str(default_python()), "-c", PROBE.format(installed=installed)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.startswith(expected), completed.stdout
    if installed != "4.9.2":
        assert "localstack-core 4.9.2, but 4.10.0 is installed" in completed.stdout
