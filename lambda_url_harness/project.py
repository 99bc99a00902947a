"""Where the project lives on disk: the repo root (the Terraform module) and its state dir."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root, which is also the root of the Terraform module."""

STATE_DIR = REPO_ROOT / ".state"
"""Runtime state (gitignored): generated CLI config, LocalStack data, deploy records."""

DEFAULT_REGION = "us-east-1"
