"""Where the project lives on disk: the repo root (the square module) and the state dir."""

from __future__ import annotations

from embedded_localstack.paths import CHECKOUT_ROOT, STATE_DIR_VARIABLE, state_root

REPO_ROOT = CHECKOUT_ROOT
"""The repository root, which is also the root of the square Terraform module (in a source checkout)."""

STATE_DIR = state_root()
"""Runtime state (gitignored): generated CLI config, LocalStack data, deploy and run records.

``$LAMBDA_URL_HARNESS_STATE_DIR`` moves it (see :mod:`embedded_localstack.paths`); read at import: the
fault tests give a run they SIGKILL a state dir of its own."""

DEFAULT_REGION = "us-east-1"

SQUARE_MODULE_ITEMS = ("*.tf", "lambda", "scripts", "examples")
"""What a workspace copy of the square module needs from the repo (not its venvs, tests or docs)."""

__all__ = ["DEFAULT_REGION", "REPO_ROOT", "SQUARE_MODULE_ITEMS", "STATE_DIR", "STATE_DIR_VARIABLE"]
