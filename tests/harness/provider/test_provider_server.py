"""When a shared aws provider is used, with which environment, and what happens when it cannot start.

The providers here are small scripts standing in for a provider binary at the path ``terraform init`` installs
to; the real provider is exercised in tests/acceptance/test_provider_reuse.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from support import processes_under

from lambda_url_harness.errors import ProviderServerError, TerraformError
from lambda_url_harness.provider.proxy import AWS_PROVIDER, REATTACH_VARIABLE, ValidationCache, provider_identity
from lambda_url_harness.provider.reuse import RECONFIGURE_FAILURE
from lambda_url_harness.provider.server import (
    LOG_NAME,
    SDK_LOG_VARIABLES,
    ProviderServer,
    provider_binary,
    server_environment,
)
from lambda_url_harness.terraform.runner import CompletedCommand
from lambda_url_harness.terraform.tflocal import Tflocal


def _install(working_dir: Path, script: str, version: str = "5.100.0", interpreter: str = "/bin/sh") -> Path:
    """A fake provider where ``terraform init`` would have put the real one."""
    binary = (
        working_dir / ".terraform" / "providers" / AWS_PROVIDER / version / "linux_amd64" / "terraform-provider-aws"
    )
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!{interpreter}\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_the_binary_is_the_one_init_installed(tmp_path: Path) -> None:
    assert provider_binary(tmp_path) is None
    binary = _install(tmp_path, "exit 0\n")
    assert provider_binary(tmp_path) == binary
    _install(tmp_path, "exit 0\n", version="5.99.0")
    assert provider_binary(tmp_path) is None, "two versions: not ours to choose"


@pytest.mark.parametrize(
    ("env", "endpoint", "expected"),
    [
        ({"AWS_CA_BUNDLE": "/ca.pem", "A": "1"}, "http://127.0.0.1:4566", {"A": "1"}),
        ({"A": "1"}, "https://localstack.example:4566", {"A": "1"}),
        ({"AWS_CA_BUNDLE": "/ca.pem"}, "https://localstack.example:4566", None),
        ({REATTACH_VARIABLE: "{}"}, "http://127.0.0.1:4566", None),
    ],
    ids=["http-drops-ca-bundle", "https-without-bundle", "https-with-bundle", "callers-own-reattach"],
)
def test_server_environment(env: dict[str, str], endpoint: str, expected: dict[str, str] | None) -> None:
    result = server_environment(env, endpoint)
    if expected is None:
        assert result is None
        return
    assert result is not None
    assert {name: value for name, value in result.items() if name not in SDK_LOG_VARIABLES} == expected
    assert all(result[name] == "off" for name in SDK_LOG_VARIABLES), "trace logs off unless asked for"


@pytest.mark.parametrize("variable", ["TF_LOG", "TF_LOG_PROVIDER"])
def test_provider_logs_stay_on_when_the_caller_asked_for_them(variable: str) -> None:
    result = server_environment({variable: "debug"}, "http://127.0.0.1:4566")
    assert result is not None
    assert result.get("TF_LOG_SDK") is None


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("echo 'plugin exploded' >&2\nexit 3\n", "exited with 3 before it listened"),
        (f"echo \"{REATTACH_VARIABLE}='not json'\"\nexec sleep 60\n", "printed an unexpected reattach line"),
        (
            f"echo '{REATTACH_VARIABLE}=' \"'\"'{json.dumps({AWS_PROVIDER: {'Addr': {'Network': 'tcp'}}})}'\"'\"\n"
            "exec sleep 60\n",
            "printed an unexpected reattach line",
        ),
    ],
    ids=["exits", "garbage", "tcp-address"],
)
def test_a_provider_that_does_not_listen_is_a_clear_error_and_is_stopped(
    tmp_path: Path, script: str, message: str
) -> None:
    binary = _install(tmp_path, script)
    server = ProviderServer(binary, tmp_path, {"PATH": "/usr/bin:/bin"}, ValidationCache(tmp_path / "c"))
    with pytest.raises(ProviderServerError, match=message) as failure:
        server.reattach_env(timeout_s=10)
    assert str(binary) in str(failure.value)
    assert not server.running()
    assert processes_under(tmp_path) == set()


def test_a_provider_that_never_announces_itself_times_out_and_is_stopped(tmp_path: Path) -> None:
    server = ProviderServer(
        _install(tmp_path, "exec sleep 60\n"), tmp_path, {"PATH": "/usr/bin:/bin"}, ValidationCache(tmp_path / "c")
    )
    with pytest.raises(ProviderServerError, match="announced no address within 1 s"):
        server.reattach_env(timeout_s=1)
    assert not server.running()


class Recorder:
    def __init__(self) -> None:
        self.envs: list[Mapping[str, str]] = []

    def __call__(self, argv: list[str], cwd: Path, env: Mapping[str, str], timeout_s: float) -> CompletedCommand:
        self.envs.append(dict(env))
        return CompletedCommand(argv, 0, "", "")


def test_without_a_usable_provider_terraform_starts_its_own(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _install(tmp_path, "echo 'no debug mode here' >&2\nexit 2\n")
    recorder = Recorder()
    tflocal = Tflocal(
        tmp_path, {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, binary="tflocal", runner=recorder, reuse_provider=True
    )
    with caplog.at_level(logging.WARNING, logger="lambda_url_harness.provider.reuse"):
        tflocal.apply()
        tflocal.destroy()
    assert all(REATTACH_VARIABLE not in env for env in recorder.envs)
    assert "no debug mode here" in caplog.text
    assert "Terraform starts its own aws providers instead" in caplog.text
    assert tflocal.shares_provider is False, "tried once, not on every command"
    assert caplog.text.count("exited with 2") == 1
    assert processes_under(tmp_path) == set()


def test_reuse_off_runs_terraform_as_usual(tmp_path: Path) -> None:
    _install(tmp_path, "echo started > started\nexec sleep 60\n")
    recorder = Recorder()
    Tflocal(tmp_path, {}, binary="tflocal", runner=recorder, reuse_provider=False).apply()
    assert REATTACH_VARIABLE not in recorder.envs[0]
    assert not (tmp_path / "started").exists()


def test_validation_answers_are_kept_per_provider_binary_and_environment(tmp_path: Path) -> None:
    binary = _install(tmp_path, "exit 0\n")
    link = tmp_path / "link-to-provider"
    link.symlink_to(binary)
    same = provider_identity(binary, {"A": "1", "B": "2"})
    assert provider_identity(link, {"B": "2", "A": "1"}) == same, "the installed link and its target are one provider"
    assert provider_identity(binary, {"A": "1", "B": "3"}) != same, "defaults may come from the environment"
    assert provider_identity(binary, {"A": "1"}) != same
    other = _install(tmp_path / "other", "exit 0\n")
    assert provider_identity(other, {"A": "1", "B": "2"}) != same

    cache = ValidationCache(tmp_path / "cache")
    cache.put((same, "/tfplugin5.Provider/PrepareProviderConfig", b"config"), b"answer")
    assert cache.get((same, "/tfplugin5.Provider/PrepareProviderConfig", b"config")) == b"answer"
    assert cache.get((same, "/tfplugin5.Provider/PrepareProviderConfig", b"config2")) is None
    assert cache.get((provider_identity(other, {}), "/tfplugin5.Provider/PrepareProviderConfig", b"config")) is None


# ------------------------------------------------------------------ what a failing command does to the server

LISTENING_PROVIDER = f"""
import json, os, time
address = os.environ["PLUGIN_UNIX_SOCKET_DIR"] + "/plugin-fake"
document = {{"{AWS_PROVIDER}": {{"Protocol": "grpc", "ProtocolVersion": 5, "Pid": os.getpid(), "Test": True,
             "Addr": {{"Network": "unix", "String": address}}}}}}
print("Provider started.", flush=True)
print("\\t{REATTACH_VARIABLE}='" + json.dumps(document) + "'", flush=True)
time.sleep(120)
"""
"""Announces an address like the provider's ``-debug`` mode (nothing listens there: the runner below never calls)."""


class Script:
    """A runner answering each command with the next step: a CompletedCommand, an exception, or a callable."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.envs: list[dict[str, str]] = []

    def __call__(self, argv: list[str], cwd: Path, env: Mapping[str, str], timeout_s: float) -> CompletedCommand:
        self.envs.append(dict(env))
        step = self.steps.pop(0)
        if callable(step) and not isinstance(step, type):
            step = step()
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, int)
        return CompletedCommand(argv, step, "", "")

    def attached(self) -> list[str | None]:
        return [env.get(REATTACH_VARIABLE) for env in self.envs]


def _tflocal(tmp_path: Path, script: Script) -> Tflocal:
    _install(tmp_path, LISTENING_PROVIDER, interpreter=sys.executable)
    return Tflocal(
        tmp_path, {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, binary="tflocal", runner=script, reuse_provider=True
    )


def _failed(output: str) -> TerraformError:
    return TerraformError(["tflocal", "apply"], Path(), 1, output, "")


def test_a_refused_reconfiguration_runs_the_command_again_without_the_server(tmp_path: Path) -> None:
    script = Script(_failed(f"Error: loading configuration: {RECONFIGURE_FAILURE}, *http.Client"), 0, 0)
    tflocal = _tflocal(tmp_path, script)
    tflocal.apply()
    server_gone = tflocal.provider_server is None
    tflocal.destroy()
    first, again, destroy = script.attached()
    assert first is not None and again is None and destroy is None
    assert server_gone and not tflocal.shares_provider
    assert processes_under(tmp_path) == set()


def test_terraforms_own_failure_is_raised_once_and_the_server_stays(tmp_path: Path) -> None:
    script = Script(_failed("Error: creating Lambda Function: AccessDeniedException"), 0)
    tflocal = _tflocal(tmp_path, script)
    with pytest.raises(TerraformError, match="AccessDeniedException"):
        tflocal.apply()
    server = tflocal.provider_server
    assert server is not None and server.running()
    tflocal.destroy()
    apply, destroy = script.attached()
    assert apply is not None and apply == destroy, "the same server for the next command"
    tflocal.close()
    assert processes_under(tmp_path) == set()


def test_a_server_that_dies_during_a_command_is_named_in_the_error_and_not_run_again(tmp_path: Path) -> None:
    holder: dict[str, int] = {}

    def provider_dies() -> TerraformError:
        server = tflocal.provider_server
        assert server is not None
        holder["pid"] = server.pid
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait()
        return _failed("Error: Plugin did not respond")

    script = Script(provider_dies, 0)
    tflocal = _tflocal(tmp_path, script)
    with pytest.raises(TerraformError) as failure:
        tflocal.apply()
    note = "\n".join(getattr(failure.value, "__notes__", []))
    assert f"(pid {holder['pid']}) ended with exit code -9 during this command" in note
    assert LOG_NAME in note
    assert tflocal.provider_server is None
    tflocal.destroy()  # the next command gets a new server
    apply, destroy = script.attached()
    assert apply is not None and destroy is not None and apply != destroy
    assert len(script.envs) == 2, "the failed apply was not run again"
    tflocal.close()
    assert processes_under(tmp_path) == set()


@pytest.mark.parametrize(
    "interruption",
    [
        TerraformError(["tflocal", "apply"], Path(), None, "", "", timed_out_after_s=5.0),
        KeyboardInterrupt(),
    ],
    ids=["timeout", "ctrl-c"],
)
def test_a_timeout_or_an_interrupt_ends_the_server(tmp_path: Path, interruption: BaseException) -> None:
    script = Script(interruption)
    tflocal = _tflocal(tmp_path, script)
    with pytest.raises(type(interruption)):
        tflocal.apply()
    assert tflocal.provider_server is None
    assert len(script.envs) == 1
    assert processes_under(tmp_path) == set()
