"""Provider reuse behind one facade: what the rest of the harness sees of :mod:`.server` and :mod:`.proxy`.

* :class:`SharedProvider`: one working directory's Terraform commands attached to one aws provider process;
  :meth:`SharedProvider.run` runs a command with it and falls back to Terraform's own providers when it cannot be
  used. The Terraform command lines hold one; nothing else of this package reaches them.
* :class:`ProviderReuse`: one run's choice (reuse or not) and what its working directories share (the validation
  cache).
* :func:`clear_killed_run`: what a SIGKILLed run's provider servers left in the temp dir, for recovery.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from embedded_localstack.control.processes import ProcessTracker
from lambda_url_harness.errors import ProviderServerError, TerraformError
from lambda_url_harness.provider.proxy import ValidationCache
from lambda_url_harness.provider.server import (
    ProviderServer,
    provider_binary,
    run_temp_dir_prefixes,
    server_environment,
    shared_validation_cache,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

VALIDATIONS_DIR = "harness-validations"
"""A working directory's own validation cache (in ``.terraform/``) when no shared one is given."""
RECONFIGURE_FAILURE = "unable to add custom RootCAs HTTPClient"
"""What the aws provider answers when a CA bundle is configured on a re-configuration (see :mod:`.server`): it fails
a ``Configure``, before the walk changes anything through the provider."""

Command = Callable[[Mapping[str, str]], T]
"""A Terraform command, given the environment to add (``TF_REATTACH_PROVIDERS``, or nothing)."""


class SharedProvider:
    """The aws provider process that one working directory's commands attach to, started on first use.

    When none can be used there (no single aws provider installed, an ``https`` endpoint with a CA bundle, the
    caller's own ``TF_REATTACH_PROVIDERS``) or it fails to start, Terraform starts its providers as usual, from then
    on. ``tracker`` records the process (a killed run's successor stops it); ``validation_cache`` may be shared with
    other directories (a pytest session's), else the directory keeps its own in ``.terraform/``.
    """

    def __init__(
        self,
        working_dir: Path,
        env: Mapping[str, str],
        *,
        tracker: ProcessTracker | None = None,
        validation_cache: ValidationCache | None = None,
    ) -> None:
        self.working_dir = working_dir
        self._env = dict(env)
        self._tracker = tracker
        self._cache = (  # not `or`: an empty cache is falsy (it has a length)
            validation_cache
            if validation_cache is not None
            else ValidationCache(working_dir / ".terraform" / VALIDATIONS_DIR)
        )
        self._server: ProviderServer | None = None
        self._given_up_because: str | None = None

    @property
    def server(self) -> ProviderServer | None:
        """The process the next command attaches to, if one runs."""
        return self._server

    @property
    def active(self) -> bool:
        """True while commands attach to a provider server (not given up)."""
        return self._given_up_because is None

    def close(self) -> None:
        """End the server, if one runs (a later command starts another)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def run(self, command: Command[T]) -> T:
        """Run ``command`` attached to the server.

        Run once more without it only when the provider refused a re-configuration (it fails a ``Configure``, before
        anything is changed through it). Any other failure is Terraform's and is raised as it is: re-running an
        apply or destroy whose provider died halfway could repeat work whose result the state does not record. A
        timeout or an interrupt ends the server (it may still serve the abandoned command's calls).
        """
        extra_env = self._reattach_env()
        try:
            return command(extra_env)
        except TerraformError as exc:
            server = self._server
            if not extra_env or server is None:
                raise
            if exc.timed_out_after_s is not None:
                self.close()
                raise
            if RECONFIGURE_FAILURE in exc.stdout + exc.stderr:
                log.warning(
                    "`%s` failed with the shared aws provider (%s); running it again with Terraform's own providers",
                    shlex.join(exc.argv),
                    RECONFIGURE_FAILURE,
                )
                self._give_up(RECONFIGURE_FAILURE)
                return command({})
            if not server.running():
                exc.add_note(
                    f"The shared aws provider (pid {server.pid}) ended with exit code {server.process.returncode} "
                    f"during this command; its output: {server.log_path}"
                )
                self.close()
            raise
        except BaseException:
            self.close()
            raise

    def _give_up(self, reason: str) -> None:
        self.close()
        self._given_up_because = reason

    def _reattach_env(self) -> dict[str, str]:
        """``TF_REATTACH_PROVIDERS`` for the next command, or ``{}`` when Terraform should start its own."""
        if not self.active:
            return {}
        if self._server is not None and not self._server.running():
            log.warning(
                "the aws provider server %d for %s ended (exit code %s); starting another",
                self._server.pid,
                self.working_dir,
                self._server.process.returncode,
            )
            self.close()
        try:
            if self._server is None:
                self._server = self._start_server()
                if self._server is None:
                    log.info("%s: Terraform starts its own aws providers (no provider server here)", self.working_dir)
                    self._give_up("no provider server can be used here")
                    return {}
            return self._server.reattach_env()
        except ProviderServerError as exc:
            log.warning("%s\nTerraform starts its own aws providers instead", exc)
            self._give_up(str(exc))
            return {}

    def _start_server(self) -> ProviderServer | None:
        binary = provider_binary(self.working_dir)
        server_env = server_environment(self._env, self._env.get("AWS_ENDPOINT_URL", ""))
        if binary is None or server_env is None:
            return None
        return ProviderServer(binary, self.working_dir, server_env, self._cache, tracker=self._tracker)


class ProviderReuse:
    """One run's provider reuse: whether its deployments share providers, and the validation cache they share.

    ``share_validations``: one cache for all its working directories (a private temp dir named after this process,
    made on first use, removed by :meth:`close`); otherwise each directory keeps its own in ``.terraform/`` (the
    repo root's survives from ``make deploy`` to ``make destroy``).
    """

    def __init__(self, *, enabled: bool = True, share_validations: bool = False) -> None:
        self.enabled = enabled
        self.share_validations = share_validations
        self._cache: ValidationCache | None = None

    def validation_cache(self) -> ValidationCache | None:
        """The cache to give a working directory's provider (None: its own)."""
        if not (self.enabled and self.share_validations):
            return None
        if self._cache is None:
            self._cache = shared_validation_cache()
        return self._cache

    def close(self) -> None:
        cache, self._cache = self._cache, None
        if cache is not None:
            shutil.rmtree(cache.directory, ignore_errors=True)


def clear_killed_run(owner_pid: int, owner_started: float) -> list[str]:
    """Remove the temp dirs (sockets, validation cache) of a killed run's provider servers; what was done, for the log.

    The servers themselves are in the run's record (they are stopped with its other processes, after Terraform)."""
    actions = []
    for prefix in run_temp_dir_prefixes(owner_pid, owner_started):
        for leftover in Path(tempfile.gettempdir()).glob(prefix + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
            actions.append(f"removed the provider temp dir {leftover}")
    return actions
