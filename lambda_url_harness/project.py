"""Where the project lives on disk: the repo root (the Terraform module) and its state dir."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root, which is also the root of the Terraform module."""

STATE_DIR_VARIABLE = "LAMBDA_URL_HARNESS_STATE_DIR"
STATE_DIR = Path(os.environ.get(STATE_DIR_VARIABLE) or REPO_ROOT / ".state").resolve()
"""Runtime state (gitignored): generated CLI config, LocalStack data, deploy and run records.

``$LAMBDA_URL_HARNESS_STATE_DIR`` moves it (read once, at import): the fault tests give a run they
SIGKILL a state dir of its own."""

DEFAULT_REGION = "us-east-1"
