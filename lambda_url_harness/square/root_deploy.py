"""``make deploy`` / ``make destroy``: the square module applied in the repo root, by hand-style.

``deploy`` finds or starts LocalStack, runs ``tflocal init`` + ``tflocal apply`` in the repo root (so ``terraform
output function_url`` works there afterwards), calls the URL with ``{"number": 6}`` and prints the result and a curl
command that works on this machine. The stack stays up. The LocalStack deploy used is recorded in
``.state/deploy.json`` (a :class:`~lambda_url_harness.localstack_handle.LocalStackHandle`: source, endpoint, PID and
start time or container id, owned or not) so that ``destroy`` stops it again only if deploy started it and it is
still that very process: a LocalStack someone else started later on the same port is left alone.

Both run in a :class:`~lambda_url_harness.session.HarnessSession` of their own, one at a time (its lock), after
clearing what killed runs left.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedded_localstack.control.health import is_healthy
from embedded_localstack.paths import StatePaths, state_root
from lambda_url_harness.deployment import Deployment
from lambda_url_harness.discovery import ENDPOINT_ENV_VARS, DiscoveryOptions, Mode
from lambda_url_harness.errors import DeployError
from lambda_url_harness.function_url import curl_command_line
from lambda_url_harness.localstack_handle import DEFAULT_ENDPOINT, DEFAULT_PORT, LocalStackHandle
from lambda_url_harness.session import HarnessSession, exclusive
from lambda_url_harness.square.module import REPO_ROOT, SMOKE_PAYLOAD, wait_for_first_200
from lambda_url_harness.workspace import clear_stale_override

Printer = Callable[[str], None]


def read_record(state_dir: Path) -> LocalStackHandle | None:
    path = StatePaths(state_dir).deploy_record
    if not path.is_file():
        return None
    try:
        return LocalStackHandle.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as exc:
        raise DeployError(f"{path} is unreadable ({exc}); delete it if no deployment is up") from exc


def write_record(state_dir: Path, record: LocalStackHandle) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    StatePaths(state_dir).deploy_record.write_text(json.dumps(record.to_json(), indent=2) + "\n")


def deploy(
    mode: Mode = Mode.AUTO,
    *,
    root: Path = REPO_ROOT,
    state_dir: Path | None = None,
    port: int = DEFAULT_PORT,
    env: dict[str, str] | None = None,
    out: Printer = print,
) -> dict[str, Any]:
    """Apply the module in ``root`` and call its URL.

    Returns what ``deploy --json`` prints: ``function_url``, the URL's JSON ``answer``, all ``outputs``, the
    ``localstack`` record, a ``curl`` line and the phase ``timings``.

    ``port``: where LocalStack is looked for (step ``running``) and started (docker/embedded).
    """
    state_dir = state_dir or state_root()
    with HarnessSession(state_dir, label="deploy") as harness, exclusive(state_dir):
        _recover(harness, out)
        previous = read_record(state_dir)
        options = DiscoveryOptions(
            mode=mode,
            env=dict(os.environ if env is None else env),
            start_port=port,
            default_endpoint=f"http://127.0.0.1:{port}",
            paths=harness.paths,
        )
        # Not in the run ledger: deploy's LocalStack stays up on purpose; deploy.json records it for destroy.
        localstack = harness.acquire_localstack(options, track=False)
        record = localstack
        if (
            not localstack.owned
            and previous is not None
            and previous.owned
            and previous.endpoint == localstack.endpoint
            and previous.is_alive()
        ):
            # An earlier deploy started the LocalStack this run found running (same process): still ours to stop.
            record = previous
        # Written before terraform runs: if apply fails, destroy still knows what to stop.
        write_record(state_dir, record)
        stops = " (`make destroy` stops it)" if record.owned else ""
        out(f"==> LocalStack: {record.source} at {localstack.endpoint}{stops}")

        clear_stale_override(root)
        deployment = _root_deployment(harness, root, localstack.endpoint)
        out("==> tflocal init + apply in the repo root (~10-30 s)")
        try:
            deployment.apply()
            response = wait_for_first_200(deployment, SMOKE_PAYLOAD)
        except Exception:
            out("deploy failed; `make destroy` removes whatever was created (and LocalStack if we started it)")
            raise
        finally:
            deployment.close()
        answer: dict[str, Any] = response.json()

    url = deployment.function_url
    curl = curl_command_line(url, localstack.endpoint, SMOKE_PAYLOAD)
    out(f"==> POST {json.dumps(SMOKE_PAYLOAD)} -> HTTP {response.status_code} {json.dumps(answer)}")
    out(f"result: {answer.get('result')}")
    out(f"function_url: {url}")
    out("try it:")
    out(f"  {curl}")
    out("phase timings:\n" + harness.timer.summary())
    return {
        "function_url": url,
        "answer": answer,
        "outputs": deployment.outputs,
        "localstack": record.to_json(),
        "curl": curl,
        "timings": [asdict(phase) for phase in harness.timer.records],
    }


def destroy(
    *,
    root: Path = REPO_ROOT,
    state_dir: Path | None = None,
    env: dict[str, str] | None = None,
    out: Printer = print,
) -> None:
    """Destroy what ``deploy`` created in ``root`` and stop LocalStack if ``deploy`` started it."""
    state_dir = state_dir or state_root()
    environment = dict(os.environ if env is None else env)
    with HarnessSession(state_dir, label="destroy") as harness, exclusive(state_dir):
        _recover(harness, out)
        record = read_record(state_dir)
        endpoint = record.endpoint if record else _endpoint_without_record(environment)
        deployment = _root_deployment(harness, root, endpoint)
        try:
            _destroy_root(root, endpoint, deployment, out)
        finally:
            deployment.close()
        if record and record.owned:
            if record.is_alive():
                out(f"==> stopping the {record.source} LocalStack deploy started at {record.endpoint}")
                record.stop()  # checks PID and start time (or the container id) before any signal
            else:
                out(
                    f"==> the {record.source} LocalStack deploy started at {record.endpoint} is gone; "
                    "whatever answers there now was started by someone else and is left running"
                )
        elif record:
            out(f"==> leaving the {record.source} LocalStack at {record.endpoint} running (deploy did not start it)")
        StatePaths(state_dir).deploy_record.unlink(missing_ok=True)
    if harness.timer.records:
        out("phase timings:\n" + harness.timer.summary())


def _root_deployment(harness: HarnessSession, root: Path, endpoint: str) -> Deployment:
    # The repo root's resources may also be changed by hand: destroy refreshes first.
    return harness.deployment(root, endpoint, label="repo root", refresh_before_destroy=True)


def _destroy_root(root: Path, endpoint: str, deployment: Deployment, out: Printer) -> None:
    if not deployment.tflocal.has_state():
        out("==> nothing deployed in the repo root (no resources in terraform.tfstate)")
        return
    if not is_healthy(endpoint):
        raise DeployError(
            f"{root}/terraform.tfstate lists resources but no LocalStack answers at {endpoint}. "
            "Start it again (`make start`) and retry, or delete terraform.tfstate if that "
            "LocalStack's data is gone for good."
        )
    clear_stale_override(root)
    listed = len(deployment.tflocal.state().aws_instances())
    out(f"==> tflocal destroy in the repo root against {endpoint}")
    deployment.destroy()  # raises LeftoverError naming whatever LocalStack still holds
    out(f"==> checked: none of the {listed} resources the state listed is left in LocalStack")


def _endpoint_without_record(env: dict[str, str]) -> str:
    return next((env[name].rstrip("/") for name in ENDPOINT_ENV_VARS if env.get(name)), DEFAULT_ENDPOINT)


def _recover(harness: HarnessSession, out: Printer) -> None:
    """Clear what a killed deploy/destroy (or test run) recorded before working in the same places."""
    actions = harness.recover()
    if actions:
        out("==> cleared what an interrupted run left behind:\n" + "\n".join(f"    {line}" for line in actions))
