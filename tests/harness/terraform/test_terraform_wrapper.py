"""The python-terraform wrapper: which command lines it builds, and how failures surface."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from lambda_url_harness.errors import TerraformError
from lambda_url_harness.terraform.runner import CompletedCommand, run_bounded
from lambda_url_harness.terraform.tflocal import GO_GC_PERCENT, Tflocal, default_tflocal_binary, tflocal_env
from lambda_url_harness.workspace import OVERRIDE_FILE


class Recorder:
    """Stands in for the subprocess runner; keeps argv, env and the -var-file contents it saw."""

    def __init__(self, returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.calls: list[list[str]] = []
        self.var_files: list[dict] = []
        self.envs: list[Mapping[str, str]] = []

    def __call__(self, argv: list[str], cwd: Path, env: Mapping[str, str], timeout_s: float) -> CompletedCommand:
        self.calls.append(argv)
        self.envs.append(env)
        for arg in argv:
            if arg.startswith("-var-file="):
                self.var_files.append(json.loads(Path(arg.removeprefix("-var-file=")).read_text()))
        return CompletedCommand(argv, self.returncode, self.stdout, self.stderr)


def make(tmp_path: Path, recorder: Recorder, variables: dict | None = None) -> Tflocal:
    return Tflocal(tmp_path, {"X": "1"}, variables, binary="tflocal", runner=recorder)


def test_apply_auto_approves_without_prompting(tmp_path: Path) -> None:
    recorder = Recorder()
    make(tmp_path, recorder).apply()
    argv = recorder.calls[0]
    assert argv[:2] == ["tflocal", "apply"]
    assert "-auto-approve=true" in argv
    assert "-input=false" in argv
    assert "-no-color" in argv


def test_destroy_never_passes_the_removed_force_flag(tmp_path: Path) -> None:
    recorder = Recorder()
    make(tmp_path, recorder).destroy()
    argv = recorder.calls[0]
    assert argv[:2] == ["tflocal", "destroy"]
    assert "-force" not in argv
    assert "-auto-approve=true" in argv


def test_destroy_without_refresh_skips_reading_every_resource_first(tmp_path: Path) -> None:
    recorder = Recorder()
    make(tmp_path, recorder).destroy(refresh=False)
    assert "-refresh=false" in recorder.calls[0]
    make(tmp_path, recorder).destroy()
    assert not any(arg.startswith("-refresh") for arg in recorder.calls[1])


def test_variables_go_through_a_var_file_that_is_removed_afterwards(tmp_path: Path) -> None:
    recorder = Recorder()
    make(tmp_path, recorder, {"function_name": "square-abc", "tags": {"team": "x"}}).apply()
    assert recorder.var_files == [{"function_name": "square-abc", "tags": {"team": "x"}}]
    var_file = next(arg for arg in recorder.calls[0] if arg.startswith("-var-file="))
    assert not Path(var_file.removeprefix("-var-file=")).exists()


def test_plan_saves_the_plan_and_exit_two_means_changes(tmp_path: Path) -> None:
    recorder = Recorder(returncode=2)
    assert make(tmp_path, recorder).plan(tmp_path / "x.tfplan") is True
    assert "-detailed-exitcode" in recorder.calls[0]
    assert f"-out={tmp_path / 'x.tfplan'}" in recorder.calls[0]


def test_plan_exit_zero_means_no_changes(tmp_path: Path) -> None:
    assert make(tmp_path, Recorder(returncode=0)).plan(tmp_path / "x.tfplan") is False


def test_plan_exit_one_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TerraformError, match="exit code 1"):
        make(tmp_path, Recorder(returncode=1, stdout="Error: boom")).plan(tmp_path / "x.tfplan")


def test_show_plan_reads_the_saved_plan_as_json(tmp_path: Path) -> None:
    document = {"format_version": "1.2", "resource_changes": []}
    recorder = Recorder(stdout=json.dumps(document))
    assert make(tmp_path, recorder).show_plan(tmp_path / "x.tfplan") == document
    assert recorder.calls[0] == ["tflocal", "show", "-json", "-no-color", str(tmp_path / "x.tfplan")]


def test_refresh_of_a_state_file_reads_only_the_targets_into_that_file(tmp_path: Path) -> None:
    recorder = Recorder()
    make(tmp_path, recorder).refresh_state_file(tmp_path / "copy.tfstate", ["aws_sqs_queue.q", 'x.y["a"]'])
    argv = recorder.calls[0]
    assert argv[:2] == ["tflocal", "apply"]
    assert {"-refresh-only", f"-state={tmp_path / 'copy.tfstate'}", "-lock=false", "-auto-approve=true"} <= set(argv)
    assert [arg for arg in argv if arg.startswith("-target=")] == ["-target=aws_sqs_queue.q", '-target=x.y["a"]']


def test_failure_message_quotes_terraform_output(tmp_path: Path) -> None:
    recorder = Recorder(returncode=1, stdout="Error: creating Lambda Function: AccessDenied", stderr="tflocal says no")
    with pytest.raises(TerraformError) as error:
        make(tmp_path, recorder).apply()
    message = str(error.value)
    assert message.startswith("`tflocal apply")
    assert str(tmp_path) in message
    assert "AccessDenied" in message
    assert "tflocal says no" in message
    assert error.value.returncode == 1


def test_outputs_are_unwrapped_values(tmp_path: Path) -> None:
    stdout = json.dumps({"function_url": {"value": "http://x/", "type": "string", "sensitive": False}})
    recorder = Recorder(stdout=stdout)
    assert make(tmp_path, recorder).outputs() == {"function_url": "http://x/"}
    assert recorder.calls[0][:3] == ["tflocal", "output", "-json"]


def test_outputs_come_from_the_local_state_without_running_tflocal(tmp_path: Path) -> None:
    state = {"version": 4, "outputs": {"function_url": {"value": "http://y/", "type": "string"}}, "resources": []}
    (tmp_path / "terraform.tfstate").write_text(json.dumps(state))
    recorder = Recorder(stdout='{"function_url": {"value": "http://x/"}}')
    assert make(tmp_path, recorder).outputs() == {"function_url": "http://y/"}
    assert recorder.calls == []


def test_output_errors_raise_instead_of_returning_none(tmp_path: Path) -> None:
    with pytest.raises(TerraformError):
        make(tmp_path, Recorder(returncode=1, stdout="Error: no state")).outputs()


def test_commands_run_with_the_given_environment(tmp_path: Path) -> None:
    recorder = Recorder()
    make(tmp_path, recorder).init()
    assert recorder.envs[0] == {"X": "1"}
    assert recorder.calls[0][:2] == ["tflocal", "init"]


def test_missing_working_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="does not exist"):
        Tflocal(tmp_path / "nope", {}, runner=Recorder())


def test_has_state_reads_the_local_state(tmp_path: Path) -> None:
    tflocal = make(tmp_path, Recorder())
    assert not tflocal.has_state()
    (tmp_path / "terraform.tfstate").write_text(json.dumps({"resources": []}))
    assert not tflocal.has_state()
    (tmp_path / "terraform.tfstate").write_text(json.dumps({"resources": [{"type": "aws_iam_role"}]}))
    assert tflocal.has_state()


def test_tflocal_env_targets_localstack_and_drops_real_aws_settings(tmp_path: Path) -> None:
    base = {"AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "secret", "PATH": "/usr/bin"}
    env = tflocal_env("http://127.0.0.1:4599", tmp_path, "eu-west-1", base=base)
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "eu-west-1"
    assert "AWS_PROFILE" not in env
    assert "AWS_SESSION_TOKEN" not in env
    assert env["PATH"] == "/usr/bin"


def _tflocal_override(tmp_path: Path, env: Mapping[str, str]) -> str:
    """The provider override the real tflocal writes for ``env`` (DRY_RUN: it writes the file and stops there)."""
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n')
    run = run_bounded([default_tflocal_binary(), "plan"], tmp_path, {**env, "DRY_RUN": "1"}, timeout_s=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return (tmp_path / OVERRIDE_FILE).read_text()


def test_tflocal_env_reaches_s3_path_style_at_localstacks_address(tmp_path: Path) -> None:
    """Without it tflocal addresses buckets as <bucket>.s3.localhost.localstack.cloud, which needs public DNS."""
    override = _tflocal_override(tmp_path, tflocal_env("http://127.0.0.1:4599", tmp_path / "state"))
    assert "s3_use_path_style = true" in override
    assert 's3 = "http://127.0.0.1:4599"' in override
    assert "localstack.cloud" not in override.split("endpoints", 1)[1].split("s3control")[0]


def test_tflocal_env_keeps_a_callers_s3_setting(tmp_path: Path) -> None:
    base = {name: value for name, value in os.environ.items() if name != "S3_ENDPOINT"}
    env = tflocal_env("http://127.0.0.1:4599", tmp_path / "state", base={**base, "S3_HOSTNAME": "s3.example.test"})
    assert "S3_ENDPOINT" not in env
    override = _tflocal_override(tmp_path, env)
    assert 's3 = "http://s3.example.test:4599"' in override
    assert "s3_use_path_style" not in override


@pytest.mark.parametrize(
    ("base", "tuned", "expected"),
    [
        ({}, True, GO_GC_PERCENT),  # the harness's own setting
        ({"GOGC": "150"}, True, "150"),  # the caller's wins
        ({}, False, None),  # what a user typing tflocal has
    ],
)
def test_tflocal_env_sets_go_gc_only_when_tuned_and_unset(
    tmp_path: Path, base: dict, tuned: bool, expected: str | None
) -> None:
    env = tflocal_env("http://127.0.0.1:4599", tmp_path, base=base, tuned=tuned)
    assert env.get("GOGC") == expected


def test_run_bounded_interrupts_a_command_that_overruns(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    with pytest.raises(TerraformError) as error:
        run_bounded(argv, tmp_path, {}, timeout_s=1.0)
    assert error.value.timed_out_after_s == 1.0
    assert "timed out after 1 s" in str(error.value)
    assert "started" in error.value.stdout


def test_run_bounded_captures_both_streams(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"]
    result = run_bounded(argv, tmp_path, {}, timeout_s=30)
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (3, "out", "err")


def test_run_bounded_echoes_lines_live_and_still_captures_them(tmp_path: Path) -> None:
    code = "import sys, time\nprint('one', flush=True)\ntime.sleep(0.3)\nprint('two', file=sys.stderr, flush=True)"
    seen: list[str] = []
    result = run_bounded([sys.executable, "-c", code], tmp_path, {}, timeout_s=30, echo=seen.append)
    assert (result.returncode, result.stdout, result.stderr) == (0, "one\n", "two\n")
    assert seen[0].startswith("$ ") and seen[1:] == ["one", "two"]


def test_run_bounded_with_echo_still_interrupts_an_overrun(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    seen: list[str] = []
    with pytest.raises(TerraformError, match="timed out after 1 s") as error:
        run_bounded(argv, tmp_path, {}, timeout_s=1.0, echo=seen.append)
    assert "started" in seen
    assert "started" in error.value.stdout


def test_a_syntax_error_is_quoted_once_in_terraforms_words(tmp_path: Path) -> None:
    """tflocal parses the files itself first and prints its parser's complaint two to three times; only Terraform's
    message (file, line, block) reaches the error."""
    (tmp_path / "main.tf").write_text('resource "aws_iam_role" "r" {\n  name = "x"\n\n')
    tflocal = Tflocal(tmp_path, tflocal_env("http://127.0.0.1:9", tmp_path / "state"))
    with pytest.raises(TerraformError) as error:
        tflocal.init()
    message = str(error.value)
    assert "Unable to parse" in error.value.stdout, "tflocal still says it (the test would prove nothing otherwise)"
    assert "Unable to parse" not in message
    assert message.count("Error: Unclosed configuration block") == 1
    assert 'on main.tf line 1, in resource "aws_iam_role" "r"' in message


def test_a_service_localstack_does_not_serve_is_named_with_the_option_that_adds_it(tmp_path: Path) -> None:
    stdout = (
        "Error: creating SQS Queue (q): operation error SQS: CreateQueue, https response error StatusCode: 501, "
        "api error InternalFailure: Service 'sqs' is not enabled. Please check your 'SERVICES' configuration variable."
    )
    message = str(TerraformError(["tflocal", "apply"], tmp_path, 1, stdout, ""))
    assert "hint: this LocalStack does not serve sqs. One the pytest plugin starts serves them with " in message
    assert "--localstack-services=sqs" in message
    assert "@pytest.mark.localstack_services('sqs')" in message
