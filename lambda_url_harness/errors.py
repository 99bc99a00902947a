"""Every error the harness raises on purpose, under one base, and what a command line prints without a traceback.

Each carries a message written for the user (what failed, why, what to do). The embedded LocalStack has its own
base, :class:`~embedded_localstack.errors.EmbeddedLocalStackError`. :data:`USER_FACING_ERRORS` names both bases: an
error of either package is printed as its message alone; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from embedded_localstack.errors import EmbeddedLocalStackError

OUTPUT_TAIL_LINES = 60


class HarnessError(RuntimeError):
    """Base of the harness's errors; each subclass says which step failed."""


class LocalStackUnavailableError(HarnessError):
    """No LocalStack could be found or started (the message lists what was tried and how to fix it), or one we
    started could not be removed."""


class LocalStackGoneError(HarnessError):
    """LocalStack stopped answering while Terraform worked against it; the message says what that means."""


class WorkspaceError(HarnessError):
    """A workspace (a private copy of a module) cannot be created or used."""


class FunctionUrlError(HarnessError):
    """The Function URL did not answer as expected within the allowed attempts."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The last HTTP status seen, None when there was no answer."""


class ProviderServerError(HarnessError):
    """A shared aws provider (or its proxy) did not start; the message quotes what the provider printed."""


class DeployError(HarnessError):
    """``make deploy`` / ``make destroy`` cannot proceed; the message says why and what to do."""


class TerraformError(HarnessError):
    """A terraform/tflocal command failed or timed out; the message quotes its output."""

    def __init__(
        self,
        argv: list[str],
        working_dir: Path,
        returncode: int | None,
        stdout: str,
        stderr: str,
        timed_out_after_s: float | None = None,
    ) -> None:
        self.argv = argv
        self.working_dir = working_dir
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out_after_s = timed_out_after_s
        super().__init__(self._message())

    def _message(self) -> str:
        command = shlex.join(self.argv)
        if self.timed_out_after_s is not None:
            headline = f"`{command}` in {self.working_dir} timed out after {self.timed_out_after_s:.0f} s"
        else:
            headline = f"`{command}` in {self.working_dir} failed with exit code {self.returncode}"
        parts = [headline]
        for name, text in (("stderr", self.stderr), ("stdout (tflocal forwards terraform's stderr here)", self.stdout)):
            tail = "\n".join(text.strip().splitlines()[-OUTPUT_TAIL_LINES:])
            if tail:
                parts.append(f"--- {name}, last {OUTPUT_TAIL_LINES} lines ---\n{tail}")
        return "\n".join(parts)


USER_FACING_ERRORS: tuple[type[Exception], ...] = (HarnessError, EmbeddedLocalStackError)
