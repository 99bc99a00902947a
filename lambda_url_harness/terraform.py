"""The one wrapper around python-terraform 0.10.1 driving ``tflocal``.

python-terraform builds the command lines (its defaults for init/apply/plan/destroy),
but its 2019 release has pitfalls with Terraform >= 0.15 that are handled here, once:

* ``destroy()`` passes ``-force`` (removed in Terraform 0.15) -> ``force=IsNotFlagged``
  plus ``auto_approve=True``;
* ``apply()`` only adds ``-auto-approve`` with ``skip_plan=True``;
* ``raise_on_error`` defaults to False, and ``output()`` swallows errors into ``None``
  -> every call here raises :class:`TerraformError` on failure, with Terraform's output;
* ``plan()`` adds ``-detailed-exitcode``: exit code 2 means "changes", not failure;
* ``cmd()`` runs ``Popen`` with ``os.environ`` and no timeout (and would turn a
  ``synchronous`` kwarg into a CLI flag) -> :class:`_BoundedTerraform` overrides only
  ``cmd()`` to run with an explicit environment, a timeout and process-group cleanup.

tflocal forwards Terraform's stderr to its own stdout, so error messages quote both streams.

tflocal (terraform-local 0.27.0) announces its deprecation in favour of LocalStack's ``lstk terraform``;
its banner is silenced here (``DISABLE_DEPRECATION_NOTICE``). This module is the only place that knows
which wrapper runs Terraform (:func:`default_tflocal_binary`, :func:`tflocal_env`): switching to ``lstk``
is a change here alone.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from lambda_url_harness.processes import INTERRUPT_GRACE_S, ProcessTracker
from lambda_url_harness.project import DEFAULT_REGION
from lambda_url_harness.provider_proxy import ValidationCache
from lambda_url_harness.provider_server import (
    RECONFIGURE_FAILURE,
    ProviderServer,
    ProviderServerError,
    provider_binary,
    server_environment,
)
from lambda_url_harness.tfconfig import terraform_env

log = logging.getLogger(__name__)

OUTPUT_TAIL_LINES = 60
VALIDATIONS_DIR = "harness-validations"
"""A working directory's own validation cache (in ``.terraform/``) when no shared one is given."""

GO_GC_PERCENT = "400"
"""``GOGC`` for terraform and the aws provider it starts (unless the caller's environment sets one).

Most of an apply or destroy against LocalStack is the aws provider starting (3-4 times per command) and building
its schema: allocation-heavy Go. Collecting garbage at 5x the live heap instead of 2x cut the CPU time of a
``terraform validate`` by ~25 % here for ~100 MB more peak memory per provider (docs/benchmarks.md).
"""

# Credentials or profiles of a real AWS account must never reach LocalStack runs.
_REAL_AWS_SETTINGS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


@dataclass(frozen=True)
class CommandTimeouts:
    """Upper bounds per command, in seconds (measured: init ~2 s, apply ~25 s, destroy ~21 s on 2 cores)."""

    init: float = 180.0
    apply: float = 600.0
    plan: float = 300.0
    output: float = 60.0
    destroy: float = 600.0


class TerraformError(RuntimeError):
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
            tail = _tail(text, OUTPUT_TAIL_LINES)
            if tail:
                parts.append(f"--- {name}, last {OUTPUT_TAIL_LINES} lines ---\n{tail}")
        return "\n".join(parts)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def tflocal_env(
    endpoint: str,
    state_dir: Path,
    region: str = DEFAULT_REGION,
    base: Mapping[str, str] | None = None,
    *,
    tuned: bool = True,
) -> dict[str, str]:
    """Environment for tflocal: offline provider mirror config plus LocalStack endpoint and test credentials.

    ``tuned`` adds the harness's ``GOGC`` (see GO_GC_PERCENT); without it the environment is what a user typing
    ``tflocal`` would have, plus the endpoint and credentials.
    """
    env = terraform_env(state_dir, base)
    for name in _REAL_AWS_SETTINGS:
        env.pop(name, None)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            # tflocal prints a multi-line deprecation banner on every call; it drowns the errors.
            "DISABLE_DEPRECATION_NOTICE": "1",
        }
    )
    env.setdefault("TF_CMD", "terraform")
    if tuned:
        env.setdefault("GOGC", GO_GC_PERCENT)
    return env


def default_tflocal_binary() -> str:
    """``tflocal`` from the harness venv (next to this interpreter), else from PATH."""
    beside_python = Path(sys.executable).parent / "tflocal"
    return str(beside_python) if beside_python.is_file() else "tflocal"


@dataclass(frozen=True)
class CompletedCommand:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_bounded(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    *,
    tracker: ProcessTracker | None = None,
    echo: Callable[[str], None] | None = None,
) -> CompletedCommand:
    """Run ``argv`` capturing output; on timeout interrupt it like Ctrl-C, then kill its process group.

    tflocal forwards one SIGINT to terraform, which then stops gracefully; signalling the whole
    group would deliver two, and a second SIGINT makes terraform abort without saving state.
    ``echo`` receives each output line as it arrives (live Terraform output), besides the capture.
    """
    log.debug("running %s in %s", shlex.join(argv), cwd)
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if tracker is not None:
        tracker.process_started(process.pid, shlex.join([Path(argv[0]).name, *argv[1:2]]))
    try:
        if echo is not None:
            echo(f"$ {shlex.join([Path(argv[0]).name, *argv[1:]])}  (in {cwd})")
            return _communicate_bounded(_EchoingProcess(process, echo), argv, cwd, timeout_s)
        return _communicate_bounded(process, argv, cwd, timeout_s)
    finally:
        if tracker is not None:
            tracker.process_ended(process.pid)


class _EchoingProcess:
    """The part of ``Popen`` that :func:`_communicate_bounded` uses, passing each line to ``echo`` as it comes."""

    def __init__(self, process: subprocess.Popen[str], echo: Callable[[str], None]) -> None:
        self._process = process
        self.pid = process.pid
        self._chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._readers = [
            threading.Thread(target=self._pump, args=(getattr(process, name), name, echo), daemon=True)
            for name in self._chunks
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: Any, name: str, echo: Callable[[str], None]) -> None:
        for line in iter(stream.readline, ""):
            self._chunks[name].append(line)
            echo(line.rstrip("\n"))
        stream.close()

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def send_signal(self, sig: int) -> None:
        self._process.send_signal(sig)

    def wait(self) -> int:
        return self._process.wait()

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self._process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return "".join(self._chunks["stdout"]), "".join(self._chunks["stderr"])


def _communicate_bounded(
    process: subprocess.Popen[str] | _EchoingProcess, argv: list[str], cwd: Path, timeout_s: float
) -> CompletedCommand:
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        raise TerraformError(argv, cwd, process.returncode, stdout, stderr, timed_out_after_s=timeout_s) from None
    except BaseException:
        # KeyboardInterrupt and friends: leave no orphaned terraform behind.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return CompletedCommand(argv, process.returncode, stdout, stderr)


Runner = Callable[[list[str], Path, Mapping[str, str], float], CompletedCommand]
"""Signature of :func:`run_bounded`; tests substitute a recorder to check the built command lines."""


class _BoundedTerraform(Terraform):
    """python-terraform whose ``cmd()`` uses an explicit env, a timeout and always captures output."""

    def __init__(
        self, *, working_dir: Path, binary: str, env: Mapping[str, str], variables: Mapping[str, Any], runner: Runner
    ):
        super().__init__(working_dir=str(working_dir), terraform_bin_path=binary, variables=dict(variables))
        self._env = dict(env)
        self._runner = runner

    def read_state_file(self, file_path: str | None = None) -> None:
        """python-terraform parses the state in its constructor; the harness reads the state itself
        (:meth:`Tflocal._local_state`), and a state file that a killed Terraform left empty or half written must not
        make this wrapper unusable (recovery then destroys nothing it cannot read, and says what is left)."""
        try:
            super().read_state_file(file_path)
        except ValueError:  # json.JSONDecodeError
            self.tfstate = None

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        timeout_s: float = kwargs.pop("timeout_s")
        accepted_returncodes: tuple[int, ...] = kwargs.pop("accepted_returncodes", (0,))
        kwargs.pop("capture_output", None)  # always captured: the error message needs it
        kwargs.pop("raise_on_error", None)  # always raised, see accepted_returncodes
        kwargs.pop("synchronous", None)
        extra_env: Mapping[str, str] = kwargs.pop("extra_env", None) or {}
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        try:
            result = self._runner(argv, Path(self.working_dir), {**self._env, **extra_env}, timeout_s)
        finally:
            self.temp_var_files.clean_up()  # -var-file temp files python-terraform wrote for map variables
        if result.returncode not in accepted_returncodes:
            raise TerraformError(argv, Path(self.working_dir), result.returncode, result.stdout, result.stderr)
        return result.returncode, result.stdout, result.stderr


class Tflocal:
    """tflocal in one working directory, with fixed input variables for every command.

    ``reuse_provider``: every command after ``init`` attaches to one aws provider process for this directory
    (:mod:`lambda_url_harness.provider_server`) instead of Terraform starting three to four per command; ``close()``
    ends it; ``validation_cache`` may be shared with other directories (a pytest session's). When no server can be
    used (no aws provider installed, an ``https`` endpoint with a CA bundle, the caller's own
    ``TF_REATTACH_PROVIDERS``) or it fails, Terraform starts its providers as usual.
    """

    def __init__(
        self,
        working_dir: Path,
        env: Mapping[str, str],
        variables: Mapping[str, Any] | None = None,
        *,
        binary: str | None = None,
        timeouts: CommandTimeouts | None = None,
        runner: Runner = run_bounded,
        reuse_provider: bool = False,
        tracker: ProcessTracker | None = None,
        validation_cache: ValidationCache | None = None,
    ) -> None:
        if not working_dir.is_dir():
            raise NotADirectoryError(f"terraform working dir {working_dir} does not exist")
        self.working_dir = working_dir
        self.env = dict(env)
        self.binary = binary or default_tflocal_binary()
        self.timeouts = timeouts or CommandTimeouts()
        self._terraform = _BoundedTerraform(
            working_dir=working_dir,
            binary=self.binary,
            env=env,
            variables=variables or {},
            runner=runner,
        )
        self.reuse_provider = reuse_provider
        """The caller's choice; :attr:`shares_provider` says whether commands still attach to a server."""
        self._no_server_because: str | None = None
        self._tracker = tracker
        self._validation_cache = (
            validation_cache
            if validation_cache is not None
            else ValidationCache(working_dir / ".terraform" / VALIDATIONS_DIR)
        )
        self._server: ProviderServer | None = None

    def init(self) -> None:
        # -var is needed by init too when variables feed module sources; python-terraform adds them.
        self._terraform.init(timeout_s=self.timeouts.init)

    def apply(self) -> None:
        self._with_provider(self._terraform.apply, skip_plan=True, timeout_s=self.timeouts.apply)

    def plan_has_changes(self) -> bool:
        """``plan -detailed-exitcode``: False when the plan is empty, True when it has changes."""
        returncode, _, _ = self._with_provider(
            self._terraform.plan, detailed_exitcode=IsFlagged, timeout_s=self.timeouts.plan, accepted_returncodes=(0, 2)
        )
        return returncode == 2

    @property
    def provider_server(self) -> ProviderServer | None:
        """The aws provider process the next command attaches to, if one runs."""
        return self._server

    def close(self) -> None:
        """End this directory's aws provider server, if one runs (commands after this start a new one)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def shares_provider(self) -> bool:
        """True while this directory's commands attach to a provider server (asked for, and not given up)."""
        return self.reuse_provider and self._no_server_because is None

    def _give_up_server(self, reason: str) -> None:
        self.close()
        self._no_server_because = reason

    def _provider_env(self) -> dict[str, str]:
        """``TF_REATTACH_PROVIDERS`` for the next command, or ``{}`` when Terraform should start its own."""
        if not self.shares_provider:
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
                    self._give_up_server("no provider server can be used here")
                    return {}
            return self._server.reattach_env()
        except ProviderServerError as exc:
            log.warning("%s\nTerraform starts its own aws providers instead", exc)
            self._give_up_server(str(exc))
            return {}

    def _start_server(self) -> ProviderServer | None:
        """This directory's provider server; None when none may be used here (no single aws provider installed, an
        https endpoint with ``AWS_CA_BUNDLE``, the caller's own ``TF_REATTACH_PROVIDERS``)."""
        binary = provider_binary(self.working_dir)
        server_env = server_environment(self.env, self.env.get("AWS_ENDPOINT_URL", ""))
        if binary is None or server_env is None:
            return None
        return ProviderServer(binary, self.working_dir, server_env, self._validation_cache, tracker=self._tracker)

    def _with_provider(self, command: Callable[..., tuple[int, str, str]], **kwargs: Any) -> tuple[int, str, str]:
        """Run ``command`` attached to the provider server.

        Run once more without it only when the provider refused a re-configuration (it fails a ``Configure``, before
        anything is changed through it). Any other failure is Terraform's and is raised as it is: re-running an
        apply or destroy whose provider died halfway could repeat work whose result the state does not record. A
        timeout or an interrupt ends the server (it may still serve the abandoned command's calls).
        """
        extra_env = self._provider_env()
        try:
            return command(extra_env=extra_env, **kwargs)
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
                self._give_up_server(RECONFIGURE_FAILURE)
                return command(**kwargs)
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

    def outputs(self) -> dict[str, Any]:
        """All root outputs as ``{name: value}``.

        Read from the local state when there is one (what ``terraform output`` would print, without
        another tflocal start-up, ~0.5-1 s per deployment); otherwise, e.g. with a remote backend,
        from ``tflocal output -json``.
        """
        local = self._local_state()
        if local is not None and isinstance(local.get("outputs"), dict):
            return {name: entry["value"] for name, entry in local["outputs"].items()}
        _, stdout, _ = self._terraform.output_cmd(json=IsFlagged, no_color=IsFlagged, timeout_s=self.timeouts.output)
        return {name: entry["value"] for name, entry in json.loads(stdout or "{}").items()}

    def _local_state(self) -> dict[str, Any] | None:
        """The local backend's state (format version 4), or None when there is none we can read."""
        try:
            state = json.loads((self.working_dir / "terraform.tfstate").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return state if isinstance(state, dict) and state.get("version") == 4 else None

    def destroy(self, timeout_s: float | None = None, *, refresh: bool = True) -> None:
        """``destroy -auto-approve``; ``refresh=False`` adds ``-refresh=false`` (no read of each resource first)."""
        options: dict[str, Any] = {} if refresh else {"refresh": False}
        self._with_provider(
            self._terraform.destroy,
            force=IsNotFlagged,
            auto_approve=True,
            timeout_s=timeout_s or self.timeouts.destroy,
            **options,
        )

    def destroy_command_line(self) -> str:
        """A shell line that destroys this working dir later, by hand (variables must be in a ``*.auto.tfvars``)."""
        names = (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "TF_CLI_CONFIG_FILE",
        )
        assignments = [f"{name}={shlex.quote(self.env[name])}" for name in names if name in self.env]
        return (
            f"cd {shlex.quote(str(self.working_dir))} && "
            f"{' '.join(assignments)} {shlex.quote(self.binary)} destroy -auto-approve"
        )

    def state_addresses(self) -> list[str]:
        """Resource addresses the local state lists (read from the file: works without any endpoint)."""
        state_file = self.working_dir / "terraform.tfstate"
        try:
            resources = json.loads(state_file.read_text()).get("resources", [])
        except (OSError, json.JSONDecodeError):
            return []
        return [
            ".".join(part for part in (item.get("module"), item.get("type"), item.get("name")) if part)
            for item in resources
            if item.get("mode") == "managed"
        ]

    def has_state(self) -> bool:
        """True when the local state records any resource (so a destroy has work to do)."""
        state_file = self.working_dir / "terraform.tfstate"
        if not state_file.is_file():
            return False
        try:
            return bool(json.loads(state_file.read_text()).get("resources"))
        except json.JSONDecodeError:
            return True  # unreadable state: let terraform decide
