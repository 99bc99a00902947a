"""Embedded mode where no ``.venv-localstack`` exists: the environment is provisioned into a cache dir from the
package's LocalStack requirements, and a LocalStack started from it runs functions with our executor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from embedded_helpers import create_function, lambda_client, stop_and_check_nothing_left

from embedded_localstack.control import provision
from embedded_localstack.control.lifecycle import EmbeddedSettings, start
from embedded_localstack.control.ports import free_port

pytestmark = pytest.mark.embedded


def test_provisioned_environment_runs_a_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    progress: list[str] = []
    try:
        python = provision.ensure_environment(progress=progress.append)
        assert python.is_relative_to(cache / "lambda-url-harness")
        assert progress[0].startswith("embedded LocalStack: creating its environment in ")
        assert progress[-1] == f"embedded LocalStack: environment ready ({python})"
        assert provision.ensure_environment(progress=progress.append) == python  # provisioned once
        assert len([line for line in progress if "creating" in line]) == 1

        settings = EmbeddedSettings(port=free_port(), state_dir=tmp_path / "localstack", python=python)
        instance = start(settings)
        assert instance.owned and instance.pid is not None
        try:
            client = lambda_client(instance.endpoint)
            code = "def handler(event, context):\n    return {'result': event['number'] ** 2}\n"
            create_function(client, "provisioned", {"lambda_function.py": code}, handler="lambda_function.handler")
            answer = client.invoke(FunctionName="provisioned", Payload=json.dumps({"number": 6}).encode())
            assert "FunctionError" not in answer
            assert json.loads(answer["Payload"].read()) == {"result": 36}
        finally:
            stop_and_check_nothing_left(settings, instance.pid)
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # ~500 MB
