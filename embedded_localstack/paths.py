"""Where the project keeps things on disk: the state root and every file and directory under it, each named once.

``$LAMBDA_URL_HARNESS_STATE_DIR`` wins. Otherwise a source checkout (this package next to ``pyproject.toml``)
keeps its state in ``<checkout>/.state`` (gitignored), and an installed copy (a foreign project using the
pytest plugin) in the user's cache directory. Standard library only: the Makefile runs
``lambda_url_harness.terraform.tfconfig`` (which reads it) before any virtualenv exists.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_VARIABLE = "LAMBDA_URL_HARNESS_STATE_DIR"
SCRATCH_PREFIX = "localstack-test-"
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


def checkout_localstack_python() -> Path:
    """The interpreter of the checkout's LocalStack venv (``make venv`` creates it)."""
    return CHECKOUT_ROOT / ".venv-localstack" / "bin" / "python"


@dataclass(frozen=True)
class StatePaths:
    """The files and directories under one state root (``root``; :meth:`current` for the configured one)."""

    root: Path

    @classmethod
    def current(cls) -> StatePaths:
        return cls(state_root())

    @property
    def localstack(self) -> Path:
        """The state dir of the LocalStack ``make start`` / ``make deploy`` run on port 4566 (data, log, PID file)."""
        return self.root / "localstack"

    def scratch_localstack(self, port: int) -> Path:
        """A test session's own LocalStack on a free port: never the one ``make stop`` stops; removed after it."""
        return self.root / f"{SCRATCH_PREFIX}{port}"

    def scratch_localstacks(self) -> list[Path]:
        """Every :meth:`scratch_localstack` dir there is."""
        return sorted(self.root.glob(f"{SCRATCH_PREFIX}*"))

    @property
    def kept(self) -> Path:
        """Deployments a test run kept (``--keep-deployments``): their workspaces, until destroyed by hand."""
        return self.root / "kept"

    @property
    def runs(self) -> Path:
        """Run records: what each running harness process created that outlives it if it is killed."""
        return self.root / "runs"

    @property
    def terraform_rc(self) -> Path:
        """The generated Terraform CLI config for an offline provider mirror."""
        return self.root / "terraform.rc"

    @property
    def plugin_cache(self) -> Path:
        """Terraform's provider cache when providers come from the registry (one download per machine)."""
        return self.root / "plugin-cache"

    @property
    def deploy_record(self) -> Path:
        """Which LocalStack ``make deploy`` used, and whether it started it (``make destroy`` reads it)."""
        return self.root / "deploy.json"

    @property
    def deploy_lock(self) -> Path:
        """Held by ``make deploy`` / ``make destroy``: one at a time in the repo root."""
        return self.root / "deploy.lock"
