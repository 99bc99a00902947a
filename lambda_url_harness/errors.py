"""Every error the harness raises on purpose, under one base, and what a command line prints without a traceback.

Each carries a message written for the user (what failed, why, what to do). The embedded LocalStack has its own
base, :class:`~embedded_localstack.errors.EmbeddedLocalStackError`. :data:`USER_FACING_ERRORS` names both bases: an
error of either package is printed as its message alone; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
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


class LeftoverError(HarnessError):
    """A destroy reported success, but LocalStack still holds resources the state listed before it."""

    def __init__(self, working_dir: Path, endpoint: str, leftovers: Sequence[object], before_destroy: Path) -> None:
        self.working_dir = working_dir
        self.leftovers = list(leftovers)
        """The :class:`~lambda_url_harness.inventory.check.Leftover` found, each naming its address and resource."""
        self.before_destroy = before_destroy
        items = "\n".join(f"  - {leftover}" for leftover in self.leftovers)
        super().__init__(
            f"destroy in {working_dir} reported success, but LocalStack at {endpoint} still holds "
            f"{len(self.leftovers)} of the resources its state listed:\n{items}\n"
            "Terraform no longer tracks them (the aws provider took a failed delete for done, or something re-created "
            f"them). The state from before the destroy is kept in {before_destroy}; delete them by hand or in "
            "LocalStack (an embedded or Docker LocalStack the run started takes them with it when it stops)."
        )


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
            tail = "\n".join(without_tflocal_parse_notices(text).strip().splitlines()[-OUTPUT_TAIL_LINES:])
            if tail:
                parts.append(f"--- {name}, last {OUTPUT_TAIL_LINES} lines ---\n{tail}")
        parts += hints(self.stdout + self.stderr)
        return "\n".join(parts)


TFLOCAL_PARSE_NOTICE = re.compile(r'^Unable to parse ".*" as HCL file: ')
"""tflocal parses every ``*.tf`` itself (python-hcl2) before running Terraform, once per use (two to three times a
command), and prints each failure as this line plus the parser's own lines up to a blank one. Terraform then reports
the same syntax error properly (file, line, the block): only Terraform's is quoted."""
SERVICE_NOT_ENABLED = re.compile(r"Service '([a-z0-9-]+)' is not enabled")
"""LocalStack's answer to a call of a service it was not started with (it names its ``SERVICES`` variable)."""


def without_tflocal_parse_notices(text: str) -> str:
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if TFLOCAL_PARSE_NOTICE.match(line):
            skipping = True
        elif skipping and not line.strip():
            skipping = False
        elif not skipping:
            kept.append(line)
    return "\n".join(kept)


def hints(output: str) -> list[str]:
    """What to do about failures the output shows that the harness knows how to fix."""
    found = []
    services = sorted(set(SERVICE_NOT_ENABLED.findall(output)))
    if services:
        names = ",".join(services)
        found.append(
            f"hint: this LocalStack does not serve {', '.join(services)}. One the pytest plugin starts serves them "
            f"with --localstack-services={names} (or LOCALSTACK_TEST_SERVICES={names}, or the marker "
            f"@pytest.mark.localstack_services({', '.join(repr(name) for name in services)}) on the tests that need "
            f"them); one started by hand must be restarted with them (`python -m embedded_localstack start "
            f"--services {names}`, SERVICES={names} for LocalStack in Docker)."
        )
    return found


USER_FACING_ERRORS: tuple[type[Exception], ...] = (HarnessError, EmbeddedLocalStackError)
