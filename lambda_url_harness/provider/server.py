"""One aws provider process per working directory that Terraform attaches to instead of starting its own.

Terraform starts the aws provider afresh for every phase of every command (schema, validate, plan, apply: three to
four processes per ``apply`` or ``destroy``), and each fresh process builds the provider's schema again before it
answers: ~1 s of CPU each on top of the work itself (docs/benchmarks.md). Terraform can instead attach to a
provider that already runs (``TF_REATTACH_PROVIDERS``, the provider's ``-debug`` mode, made for debuggers): one
process then serves every phase of every command in the working directory, warm after its first use.

What the provider sees stays what Terraform would give it: the process runs in the working directory (relative
paths such as a Lambda ``filename`` resolve the same) with the command's environment, except

* ``AWS_CA_BUNDLE`` when the endpoint is plain ``http://``: on a second ``Configure`` the aws provider keeps its
  first HTTP client, and aws-sdk-go-base refuses to add a CA bundle to it ("unable to add custom RootCAs
  HTTPClient"). Without TLS a CA bundle has no effect. An ``https://`` endpoint with a CA bundle gets no server.
* the provider SDK's log levels, off unless the caller set ``TF_LOG``/``TF_LOG_PROVIDER`` (in ``-debug`` mode the
  provider logs at trace level to its stderr, ~0.7 MB per command); its stdout and stderr are appended to
  ``.terraform/`` :data:`OUTPUT_NAME` and :data:`LOG_NAME`;
* ``PYTEST_CURRENT_TEST`` (pytest's, different in every test: it would make every provider look different to the
  validation cache), and ``PLUGIN_UNIX_SOCKET_DIR``: the provider's socket goes into a directory only this user
  can enter, next to the proxy's.

Terraform talks to it through a :mod:`~lambda_url_harness.provider.proxy` process, which starts the provider as
its child and answers repeated configuration validations (the largest cost left per command) from the provider's
earlier answers (a :class:`~lambda_url_harness.provider.proxy.ValidationCache` directory).

One server serves one working directory, and one Terraform command at a time (each ``Configure`` replaces the
provider's configuration). The pair runs in its own session, so that signals to Terraform's process group never
reach it, and it outlives this process like Terraform does (a command in flight when the harness is killed
finishes with its provider); :meth:`ProviderServer.stop` ends it, and a :class:`ProcessTracker` records it so
that the next run stops it after Terraform when this one was killed (and removes the socket directory, named
after this process: :func:`socket_dir_prefix`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from embedded_localstack.control.processes import ProcessTracker, process_tag, this_process
from lambda_url_harness.errors import ProviderServerError
from lambda_url_harness.provider.proxy import (
    AWS_PROVIDER,
    REATTACH_PREFIX,
    REATTACH_VARIABLE,
    VALIDATION_HIT,
    VALIDATION_MISS,
    ValidationCache,
    provider_identity,
)

log = logging.getLogger(__name__)

OUTPUT_NAME = "harness-aws-provider.out"
LOG_NAME = "harness-aws-provider.log"
"""Both in the working directory's ``.terraform/`` (Terraform's own, ignored by git and by workspace copies)."""
SOCKET_DIR_PREFIX = "tfprovider-"
VALIDATIONS_DIR_PREFIX = "tfvalidations-"
SOCKET_DIR_VARIABLE = "PLUGIN_UNIX_SOCKET_DIR"
"""go-plugin (the provider's plugin server) creates its unix socket in this directory."""
PROXY_SOCKET_NAME = "proxy"
START_TIMEOUT_S = 60.0
"""Measured: the reattach line appears ~0.1 s after the start; a loaded machine may take seconds."""
STOP_GRACE_S = 15.0
"""The proxy process gives the provider 10 s to end after SIGINT (measured: ~0.02 s)."""
_POLL_S = 0.01

SDK_LOG_VARIABLES = (
    "TF_LOG_PROVIDER",
    "TF_LOG_SDK",
    "TF_LOG_SDK_PROTO",
    "TF_LOG_SDK_MUX",
    "TF_LOG_SDK_FRAMEWORK",
    "TF_LOG_SDK_HELPER_SCHEMA",
    "TF_LOG_SDK_HELPER_RESOURCE",
)
PER_TEST_VARIABLES = ("PYTEST_CURRENT_TEST",)
PROXY_MODULE = "lambda_url_harness.provider.proxy"


def socket_dir_prefix(owner_pid: int, owner_started: float) -> str:
    """Name prefix of the socket dirs a process's provider servers make in the temp dir (its identity, as in its run
    record), so that the next run removes those of a run that was killed."""
    return f"{SOCKET_DIR_PREFIX}{process_tag(owner_pid, owner_started)}-"


def validations_dir_prefix(owner_pid: int, owner_started: float) -> str:
    """Name prefix of a process's shared validation cache dir in the temp dir (see :func:`socket_dir_prefix`)."""
    return f"{VALIDATIONS_DIR_PREFIX}{process_tag(owner_pid, owner_started)}-"


def run_temp_dir_prefixes(owner_pid: int, owner_started: float) -> tuple[str, ...]:
    """Every temp dir name prefix of a run's provider servers: what recovery removes for a killed run."""
    return socket_dir_prefix(owner_pid, owner_started), validations_dir_prefix(owner_pid, owner_started)


def shared_validation_cache() -> ValidationCache:
    """A new validation cache for several working directories (a pytest session's), in a private temp dir named
    after this process; the caller removes ``directory`` when done."""
    pid, started = this_process()
    return ValidationCache(Path(tempfile.mkdtemp(prefix=validations_dir_prefix(pid, started))))


def provider_binary(working_dir: Path) -> Path | None:
    """The aws provider ``terraform init`` installed for ``working_dir``, or None (none, or more than one)."""
    found = sorted((working_dir / ".terraform" / "providers" / AWS_PROVIDER).glob("*/*/terraform-provider-aws*"))
    return found[0] if len(found) == 1 else None


def server_environment(env: Mapping[str, str], endpoint: str) -> dict[str, str] | None:
    """The provider server's environment for Terraform commands with ``env``; None when no server may be used."""
    if REATTACH_VARIABLE in env:
        return None  # the caller attaches providers of its own (a debugger)
    server_env = {name: value for name, value in env.items() if name not in PER_TEST_VARIABLES}
    if endpoint.startswith("http://"):
        server_env.pop("AWS_CA_BUNDLE", None)
    elif "AWS_CA_BUNDLE" in env:
        return None
    if not (env.get("TF_LOG") or env.get("TF_LOG_PROVIDER")):
        server_env.update({name: "off" for name in SDK_LOG_VARIABLES})
    return server_env


def _own_socket_dir() -> Path:
    """A new directory only this user can enter, in the temp dir (a unix socket path has at most 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=socket_dir_prefix(*this_process())))


class ProviderServer:
    """An aws provider running in ``-debug`` mode for ``working_dir``; started by the constructor."""

    def __init__(
        self,
        binary: Path,
        working_dir: Path,
        env: Mapping[str, str],
        cache: ValidationCache,
        *,
        tracker: ProcessTracker | None = None,
    ) -> None:
        self.binary = binary
        self.working_dir = working_dir
        self.output_path = working_dir / ".terraform" / OUTPUT_NAME
        self.log_path = working_dir / ".terraform" / LOG_NAME
        self._tracker: ProcessTracker | None = None
        self._reattach: str | None = None
        try:
            self.socket_dir = _own_socket_dir()
            command = [
                sys.executable, "-m", PROXY_MODULE,
                "--provider", str(binary),
                "--listen", str(self.socket_dir / PROXY_SOCKET_NAME),
                "--cache-dir", str(cache.directory),
                "--identity", provider_identity(binary, env),
            ]  # fmt: skip
            # The output file is read from its start: only this server's lines. The log is appended: a provider
            # that crashed keeps its stack trace when the next one starts.
            with self.output_path.open("w") as stdout, self.log_path.open("a") as stderr:
                self.process = subprocess.Popen(
                    command,
                    cwd=working_dir,
                    env={**env, SOCKET_DIR_VARIABLE: str(self.socket_dir)},
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
        except OSError as error:
            if hasattr(self, "socket_dir"):
                shutil.rmtree(self.socket_dir, ignore_errors=True)
            raise ProviderServerError(f"cannot start `{binary} -debug` in {working_dir}: {error}") from error
        if tracker is not None:
            tracker.process_started(self.process.pid, f"{binary.name} -debug (via its proxy)")
            self._tracker = tracker
        log.debug("aws provider server pid %d for %s", self.process.pid, working_dir)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def reattach_env(self, timeout_s: float = START_TIMEOUT_S) -> dict[str, str]:
        """``{"TF_REATTACH_PROVIDERS": ...}`` for Terraform; waits until the proxy announced its address.

        Raises :class:`ProviderServerError` (the server is stopped then) when it does not.
        """
        if self._reattach is None:
            self._reattach = self._wait_for_address(timeout_s)
        return {REATTACH_VARIABLE: self._reattach}

    def validations(self) -> tuple[int, int]:
        """(answered by the provider, answered from the cache) so far: the proxy prints a line for each."""
        lines = self.output_path.read_text(errors="replace").splitlines() if self.output_path.exists() else []
        return lines.count(VALIDATION_MISS), lines.count(VALIDATION_HIT)

    def _wait_for_address(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.output_path.read_text(errors="replace").splitlines():
                text = line.strip()
                if text.startswith(REATTACH_PREFIX) and text.endswith("'"):  # a whole line, not half of one
                    return text.removeprefix(REATTACH_PREFIX).strip("'")
            if not self.running():
                self.stop()
                raise ProviderServerError(self._failure(f"exited with {self.process.returncode} before it listened"))
            if time.monotonic() > deadline:
                self.stop()
                raise ProviderServerError(self._failure(f"announced no address within {timeout_s:.0f} s"))
            time.sleep(_POLL_S)

    def _failure(self, what: str) -> str:
        output = self.output_path.read_text(errors="replace").strip()[-2000:] if self.output_path.exists() else ""
        errors = self.log_path.read_text(errors="replace").strip()[-2000:] if self.log_path.exists() else ""
        quoted = f"--- stdout ---\n{output}\n--- stderr (end of {self.log_path}) ---\n{errors}"
        return f"`{self.binary} -debug` in {self.working_dir} {what}\n{quoted}"

    def stop(self) -> None:
        """Interrupt the proxy process (it ends the provider and exits), kill the pair if it does not; idempotent.

        The provider dies with the proxy process in any case (parent-death signal, Linux).
        """
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("aws provider server %d ignored SIGINT for %.0f s; killing it", self.pid, STOP_GRACE_S)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # still our group: its leader had not exited
                self.process.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)  # both sockets, also after a kill
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.process_ended(self.process.pid)
