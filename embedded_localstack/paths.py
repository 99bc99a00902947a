"""Where the project keeps state on disk: one root for every run record, PID file, log and cache.

``$LAMBDA_URL_HARNESS_STATE_DIR`` wins. Otherwise a source checkout (this package next to ``pyproject.toml``)
keeps its state in ``<checkout>/.state`` (gitignored), and an installed copy (a foreign project using the
pytest plugin) in the user's cache directory. Standard library only: LocalStack's own venv imports it too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

STATE_DIR_VARIABLE = "LAMBDA_URL_HARNESS_STATE_DIR"
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
"""The source checkout when running from one (``pip install -e``); else the site-packages directory."""


def is_checkout() -> bool:
    return (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / "embedded_localstack").is_dir()


def user_cache_dir() -> Path:
    """The per-user cache root: ``$XDG_CACHE_HOME`` (default ``~/.cache``), ``~/Library/Caches`` on macOS."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "lambda-url-harness"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lambda-url-harness"


def state_root() -> Path:
    """The state root, read from the environment at each call (tests and child runs may move it)."""
    override = os.environ.get(STATE_DIR_VARIABLE)
    if override:
        return Path(override).resolve()
    return (CHECKOUT_ROOT / ".state") if is_checkout() else user_cache_dir() / "state"
