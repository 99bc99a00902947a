"""The benchmark's own function (the module's handler, created with boto3) and the two process-start numbers.

Latency is measured on a function created through the Lambda API rather than the Terraform deployment so the
latency part does not depend on the ~45 s apply/destroy cycle; code, runtime, handler, memory and timeout are
the module's defaults.
"""

from __future__ import annotations

import io
import logging
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config

from bench.http_load import Target, call, client_session
from embedded_localstack.service.interpreters import INTERPRETER_FLAGS, InterpreterResolver
from lambda_url_harness.aws import DEFAULT_REGION, localstack_session
from lambda_url_harness.function_url import routed_url
from lambda_url_harness.square.module import REPO_ROOT

log = logging.getLogger(__name__)

HANDLER_FILE = REPO_ROOT / "lambda" / "lambda_function_square.py"
HANDLER_MODULE = HANDLER_FILE.stem
RUNTIME = "python3.11"
ROLE_ARN = "arn:aws:iam::000000000000:role/bench-square"
PAYLOAD = {"number": 6}
EXPECTED = {"result": 36}
PROCESS_TIMEOUT_S = 30.0


def lambda_client(endpoint: str) -> Any:
    return localstack_session(DEFAULT_REGION).client(
        "lambda", endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}, read_timeout=120)
    )


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(HANDLER_FILE, HANDLER_FILE.name)
    return buffer.getvalue()


@dataclass(frozen=True)
class BenchFunction:
    name: str
    url: str
    target: Target


@contextmanager
def bench_function(endpoint: str, name: str) -> Iterator[BenchFunction]:
    """Creates the function and its public URL (AuthType NONE and its permission), deletes both on exit."""
    client = lambda_client(endpoint)
    client.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Handler=f"{HANDLER_MODULE}.lambda_handler",
        Role=ROLE_ARN,
        Code={"ZipFile": handler_zip()},
        Timeout=10,
        MemorySize=128,
    )
    try:
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        url = client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        # Without it a public URL answers 403, on AWS and in embedded mode.
        client.add_permission(
            FunctionName=name,
            StatementId="FunctionURLAllowPublicAccess",
            Action="lambda:InvokeFunctionUrl",
            Principal="*",
            FunctionUrlAuthType="NONE",
        )
        address, host_header = routed_url(url, endpoint)
        yield BenchFunction(name, url, Target(address, host_header, PAYLOAD, EXPECTED))
    finally:
        try:
            client.delete_function_url_config(FunctionName=name)
        finally:
            client.delete_function(FunctionName=name)


def cold_starts(endpoint: str, function: BenchFunction, versions: int, first_index: int = 0) -> list[float]:
    """Seconds of the first URL call after each of ``versions`` configuration changes (a fresh version each).

    Changing an environment variable makes LocalStack retire the environments of the old configuration, so the
    next call starts a new function process: interpreter start, runtime init, handler import, the call itself.
    The client connection stays open, so the number is the function's cold start, not a TCP handshake.
    """
    client = lambda_client(endpoint)
    samples: list[float] = []
    with client_session() as session:
        call(session, function.target)  # opens the keep-alive connection
        for index in range(first_index, first_index + versions):
            client.update_function_configuration(
                FunctionName=function.name, Environment={"Variables": {"BENCH_FRESH_VERSION": str(index)}}
            )
            client.get_waiter("function_updated_v2").wait(
                FunctionName=function.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
            )
            started = time.perf_counter()
            call(session, function.target)
            samples.append(time.perf_counter() - started)
    return samples


def python_floor(runs: int) -> list[float]:
    """Seconds of ``<python3.11> <executor flags> -c "import <handler module>"`` process starts.

    Same interpreter the executor resolves for python3.11, same flags, run in a fresh copy of the code (no
    ``__pycache__``, like the freshly unzipped code LocalStack hands the executor) with an empty environment.
    ``-I`` keeps the working directory off ``sys.path``, so the code dir is put first, as the runtime does.
    """
    interpreter = InterpreterResolver().resolve(RUNTIME)
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-python-floor-") as code_dir:
        shutil.copy2(HANDLER_FILE, Path(code_dir) / HANDLER_FILE.name)
        statement = f"import sys; sys.path.insert(0, {code_dir!r}); import {HANDLER_MODULE}"
        argv = [str(interpreter), *INTERPRETER_FLAGS, "-c", statement]
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(argv, cwd=code_dir, env={}, check=True, timeout=PROCESS_TIMEOUT_S, capture_output=True)
            samples.append(time.perf_counter() - started)
    log.info("python floor: %s, median %.1f ms", " ".join(argv), statistics.median(samples) * 1000)
    return samples
