"""tflocal's command lines: the one wrapper around python-terraform 0.10.1.

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
  ``cmd()`` to hand the command line to a :data:`~lambda_url_harness.terraform.runner.Runner`
  (explicit environment, a timeout, process-group cleanup).

tflocal forwards Terraform's stderr to its own stdout, so error messages quote both streams. The state is read
from its file (:mod:`.state`); commands that configure the aws provider may attach to a shared one
(:class:`~lambda_url_harness.provider.reuse.SharedProvider`).

tflocal (terraform-local 0.27.0) announces its deprecation in favour of LocalStack's ``lstk terraform``;
its banner is silenced here (``DISABLE_DEPRECATION_NOTICE``). This module is the only place that knows
which wrapper runs Terraform (:func:`default_tflocal_binary`, :func:`tflocal_env`): switching to ``lstk``
is a change here alone.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from embedded_localstack.control.processes import ProcessTracker
from lambda_url_harness.aws import DEFAULT_REGION, REAL_AWS_SETTINGS, credential_environment
from lambda_url_harness.errors import TerraformError
from lambda_url_harness.provider.proxy import ValidationCache
from lambda_url_harness.provider.reuse import Command, SharedProvider
from lambda_url_harness.provider.server import ProviderServer
from lambda_url_harness.terraform.runner import Runner, run_bounded
from lambda_url_harness.terraform.state import TerraformState
from lambda_url_harness.terraform.tfconfig import terraform_env

log = logging.getLogger(__name__)

GO_GC_PERCENT = "400"
"""``GOGC`` for terraform and the aws provider it starts (unless the caller's environment sets one).

Most of an apply or destroy against LocalStack is the aws provider starting (3-4 times per command) and building
its schema: allocation-heavy Go. Collecting garbage at 5x the live heap instead of 2x cut the CPU time of a
``terraform validate`` by ~25 % here for ~100 MB more peak memory per provider (docs/benchmarks.md).
"""


S3_ENDPOINT_VARIABLES = ("S3_ENDPOINT", "S3_HOSTNAME")
"""tflocal's S3 endpoint settings (``get_service_endpoint``, ``use_s3_path_style`` in its script).

Without either, tflocal points S3 at ``s3.localhost.localstack.cloud`` with virtual-host addressing: every bucket is
``<bucket>.s3.localhost.localstack.cloud``, which only public DNS resolves (offline: ``no such host``). The harness
sets ``S3_ENDPOINT`` to LocalStack's own address, an IP address: tflocal then turns on ``s3_use_path_style`` (it
does for any S3 host not starting with ``s3.``) and buckets need no DNS. Either variable set by the caller wins.
"""
HAND_RUN_VARIABLES = (
    "AWS_ENDPOINT_URL",
    *S3_ENDPOINT_VARIABLES,
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "TF_CLI_CONFIG_FILE",
)
"""What a ``tflocal`` typed by hand needs from the harness's environment to reach the same LocalStack the same way."""


@dataclass(frozen=True)
class CommandTimeouts:
    """Upper bounds per command, in seconds (measured: init ~2 s, apply ~25 s, destroy ~21 s on 2 cores)."""

    init: float = 180.0
    apply: float = 600.0
    plan: float = 300.0
    output: float = 60.0
    destroy: float = 600.0


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
    for name in REAL_AWS_SETTINGS:
        env.pop(name, None)
    env.update(credential_environment(region))
    env["AWS_ENDPOINT_URL"] = endpoint
    if not any(env.get(name) for name in S3_ENDPOINT_VARIABLES):
        env[S3_ENDPOINT_VARIABLES[0]] = endpoint
    # tflocal prints a multi-line deprecation banner on every call; it drowns the errors.
    env["DISABLE_DEPRECATION_NOTICE"] = "1"
    env.setdefault("TF_CMD", "terraform")
    if tuned:
        env.setdefault("GOGC", GO_GC_PERCENT)
    return env


def default_tflocal_binary() -> str:
    """``tflocal`` from the harness venv (next to this interpreter), else from PATH."""
    beside_python = Path(sys.executable).parent / "tflocal"
    return str(beside_python) if beside_python.is_file() else "tflocal"


class _BoundedTerraform(Terraform):  # type: ignore[misc]  # python-terraform has no type information
    """python-terraform whose ``cmd()`` hands the command line to a runner (explicit env, a timeout, captured
    output)."""

    def __init__(
        self, *, working_dir: Path, binary: str, env: Mapping[str, str], variables: Mapping[str, Any], runner: Runner
    ):
        super().__init__(working_dir=str(working_dir), terraform_bin_path=binary, variables=dict(variables))
        self._env = dict(env)
        self._runner = runner

    def read_state_file(self, file_path: str | None = None) -> None:
        """python-terraform parses the state in its constructor; the harness reads the state itself
        (:class:`~lambda_url_harness.terraform.state.TerraformState`), and a state file that a killed Terraform left
        empty or half written must not make this wrapper unusable."""
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
        argv: list[str] = self.generate_cmd_string(cmd, *args, **kwargs)
        try:
            result = self._runner(argv, Path(self.working_dir), {**self._env, **extra_env}, timeout_s)
        finally:
            self.temp_var_files.clean_up()  # -var-file temp files python-terraform wrote for map variables
        if result.returncode not in accepted_returncodes:
            raise TerraformError(argv, Path(self.working_dir), result.returncode, result.stdout, result.stderr)
        return result.returncode, result.stdout, result.stderr


class Tflocal:
    """tflocal in one working directory, with fixed input variables for every command.

    ``reuse_provider``: the commands that configure the aws provider (apply, plan, destroy) attach to one provider
    process for this directory (:class:`~lambda_url_harness.provider.reuse.SharedProvider`, given ``tracker`` and
    ``validation_cache``) instead of Terraform starting three to four per command; ``close()`` ends it.
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
            working_dir=working_dir, binary=self.binary, env=env, variables=variables or {}, runner=runner
        )
        self._provider = (
            SharedProvider(working_dir, self.env, tracker=tracker, validation_cache=validation_cache)
            if reuse_provider
            else None
        )

    @property
    def provider_server(self) -> ProviderServer | None:
        """The aws provider process the next command attaches to, if one runs."""
        return self._provider.server if self._provider is not None else None

    @property
    def shares_provider(self) -> bool:
        """True while this directory's commands attach to a provider server (asked for, and not given up)."""
        return self._provider is not None and self._provider.active

    def close(self) -> None:
        """End this directory's aws provider server, if one runs (commands after this start a new one)."""
        if self._provider is not None:
            self._provider.close()

    def _with_provider(self, command: Command[tuple[int, str, str]]) -> tuple[int, str, str]:
        return self._provider.run(command) if self._provider is not None else command({})

    def init(self) -> None:
        # -var is needed by init too when variables feed module sources; python-terraform adds them.
        self._terraform.init(timeout_s=self.timeouts.init)

    def apply(self) -> None:
        self._with_provider(
            lambda extra_env: self._terraform.apply(extra_env=extra_env, skip_plan=True, timeout_s=self.timeouts.apply)
        )

    def plan(self, plan_file: Path) -> bool:
        """``plan -detailed-exitcode -out=<plan_file>``: True when the plan has changes (exit code 2)."""
        returncode, _, _ = self._with_provider(
            lambda extra_env: self._terraform.plan(
                extra_env=extra_env,
                detailed_exitcode=IsFlagged,
                out=str(plan_file),
                timeout_s=self.timeouts.plan,
                accepted_returncodes=(0, 2),
            )
        )
        return returncode == 2

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        """``show -json <plan_file>``: the saved plan as Terraform's JSON document (:mod:`.plan` types it)."""
        _, stdout, _ = self._with_provider(
            lambda extra_env: self._terraform.cmd(
                "show",
                str(plan_file),
                extra_env=extra_env,
                json=IsFlagged,
                no_color=IsFlagged,
                timeout_s=self.timeouts.plan,
            )
        )
        document: dict[str, Any] = json.loads(stdout)
        return document

    def refresh_state_file(self, state_file: Path, targets: list[str] | None = None) -> TerraformState:
        """``apply -refresh-only -state=<state_file>``: re-read the resources a state file (e.g. a copy taken before
        a destroy) lists with the provider's reads, dropping those the provider finds gone; returns the result.
        ``targets`` limits the reads to these addresses. The working directory's own state is not touched."""
        options: dict[str, Any] = {"target": targets} if targets else {}
        self._with_provider(
            lambda extra_env: self._terraform.apply(
                extra_env=extra_env,
                skip_plan=True,
                refresh_only=IsFlagged,
                state=str(state_file),
                lock=False,
                timeout_s=self.timeouts.plan,
                **options,
            )
        )
        return TerraformState.read_file(state_file)

    def destroy(self, timeout_s: float | None = None, *, refresh: bool = True) -> None:
        """``destroy -auto-approve``; ``refresh=False`` adds ``-refresh=false`` (no read of each resource first)."""
        options: dict[str, Any] = {} if refresh else {"refresh": False}
        self._with_provider(
            lambda extra_env: self._terraform.destroy(
                extra_env=extra_env,
                force=IsNotFlagged,
                auto_approve=True,
                timeout_s=timeout_s or self.timeouts.destroy,
                **options,
            )
        )

    def state(self) -> TerraformState:
        """The working directory's local state, as it is on disk now."""
        return TerraformState.read(self.working_dir)

    def has_state(self) -> bool:
        """True when the local state records any resource (so a destroy has work to do)."""
        return self.state().has_resources

    def outputs(self) -> dict[str, Any]:
        """All root outputs as ``{name: value}``.

        Read from the local state when there is one (what ``terraform output`` would print, without
        another tflocal start-up, ~0.5-1 s per deployment); otherwise, e.g. with a remote backend,
        from ``tflocal output -json``.
        """
        local = self.state().outputs
        if local is not None:
            return local
        _, stdout, _ = self._terraform.output_cmd(json=IsFlagged, no_color=IsFlagged, timeout_s=self.timeouts.output)
        return {name: entry["value"] for name, entry in json.loads(stdout or "{}").items()}

    def hand_run_environment(self) -> str:
        """``NAME=value ...`` that a ``tflocal`` typed by hand in this working dir needs to reach the same LocalStack
        the same way (:data:`HAND_RUN_VARIABLES`), shell-quoted."""
        return " ".join(f"{name}={shlex.quote(self.env[name])}" for name in HAND_RUN_VARIABLES if name in self.env)
