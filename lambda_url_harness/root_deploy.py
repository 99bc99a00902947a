"""``make deploy`` / ``make destroy``: the module applied in the repo root, by hand-style.

``deploy`` finds or starts LocalStack, runs ``tflocal init`` + ``tflocal apply`` in the repo
root (so ``terraform output function_url`` works there afterwards), calls the URL with
``{"number": 6}`` and prints the result and a curl command that works on this machine. The
stack stays up. The LocalStack deploy used is recorded in ``.state/deploy.json`` (a
:class:`~lambda_url_harness.localstack.LocalStackHandle`: source, endpoint, PID and start time or
container id, owned or not) so that ``destroy`` stops it again only if deploy started it and it is
still that very process: a LocalStack someone else started later on the same port is left alone.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedded_localstack.control.lifecycle import EmbeddedLocalStackError, health
from lambda_url_harness.deployment import SMOKE_PAYLOAD, Deployment
from lambda_url_harness.function_url import curl_command_line
from lambda_url_harness.inventory import leftovers
from lambda_url_harness.localstack import (
    DEFAULT_ENDPOINT,
    DEFAULT_PORT,
    ENDPOINT_ENV_VARS,
    DiscoveryOptions,
    LocalStackHandle,
    LocalStackUnavailableError,
    Mode,
    acquire,
)
from lambda_url_harness.project import REPO_ROOT, STATE_DIR
from lambda_url_harness.runs import RunLedger, recover_stale_runs
from lambda_url_harness.terraform import run_bounded
from lambda_url_harness.timing import PhaseTimer
from lambda_url_harness.workspace import clear_stale_override

log = logging.getLogger(__name__)

RECORD_NAME = "deploy.json"
LOCK_NAME = "deploy.lock"

Printer = Callable[[str], None]


class DeployError(RuntimeError):
    """deploy/destroy cannot proceed; the message says why and what to do."""


def read_record(state_dir: Path) -> LocalStackHandle | None:
    path = state_dir / RECORD_NAME
    if not path.is_file():
        return None
    try:
        return LocalStackHandle.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as exc:
        raise DeployError(f"{path} is unreadable ({exc}); delete it if no deployment is up") from exc


def write_record(state_dir: Path, record: LocalStackHandle) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / RECORD_NAME).write_text(json.dumps(record.to_json(), indent=2) + "\n")


@contextmanager
def exclusive(state_dir: Path) -> Iterator[None]:
    """One deploy/destroy at a time: they share the repo root's override file and state."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_NAME).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployError(f"another deploy or destroy is running (lock {state_dir / LOCK_NAME})") from None
        yield


def embedded_state_dir(state_dir: Path) -> Path | None:
    """Where deploy's embedded LocalStack keeps its PID file: the launcher's default for the project's
    own state dir (so `make stop`/`make status` see it), else inside the given state dir."""
    return None if state_dir.resolve() == STATE_DIR.resolve() else state_dir / "localstack"


def deploy(
    mode: Mode = Mode.AUTO,
    *,
    root: Path = REPO_ROOT,
    state_dir: Path = STATE_DIR,
    port: int = DEFAULT_PORT,
    env: dict[str, str] | None = None,
    out: Printer = print,
) -> dict[str, Any]:
    """Apply the module in ``root`` and call its URL.

    Returns what ``deploy --json`` prints: ``function_url``, the URL's JSON ``answer``, all ``outputs``, the
    ``localstack`` record, a ``curl`` line and the phase ``timings``.

    ``port``: where LocalStack is looked for (step ``running``) and started (docker/embedded).
    """
    timer = PhaseTimer()
    with exclusive(state_dir):
        _recover(state_dir, out)
        previous = read_record(state_dir)
        options = DiscoveryOptions(
            mode=mode,
            env=dict(os.environ if env is None else env),
            start_port=port,
            default_endpoint=f"http://127.0.0.1:{port}",
            embedded_state_dir=embedded_state_dir(state_dir),
        )
        try:
            with timer.phase("localstack", mode.value):
                localstack = acquire(options)
        except LocalStackUnavailableError as exc:
            raise DeployError(str(exc)) from exc
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
        # tflocal runs in its own process group: if this process is SIGKILLed, the record lets the
        # next deploy/destroy stop it before touching the override file or the state.
        ledger = RunLedger(state_dir, label="deploy")
        deployment = Deployment(
            root,
            localstack.endpoint,
            timer,
            label="repo root",
            state_dir=state_dir,
            runner=functools.partial(run_bounded, tracker=ledger),
            refresh_before_destroy=True,  # the repo root's resources may also be changed by hand
            tracker=ledger,
        )
        out("==> tflocal init + apply in the repo root (~10-30 s)")
        try:
            deployment.apply()
            response = deployment.wait_for_first_200(SMOKE_PAYLOAD)
        except Exception:
            out("deploy failed; `make destroy` removes whatever was created (and LocalStack if we started it)")
            raise
        finally:
            try:
                deployment.close()
            finally:
                ledger.close()
        answer: dict[str, Any] = response.json()

    url = deployment.function_url
    out(f"==> POST {json.dumps(SMOKE_PAYLOAD)} -> HTTP {response.status_code} {json.dumps(answer)}")
    out(f"result: {answer.get('result')}")
    out(f"function_url: {url}")
    out("try it:")
    out(f"  {curl_command_line(url, localstack.endpoint, SMOKE_PAYLOAD)}")
    out("phase timings:\n" + timer.summary())
    return {
        "function_url": url,
        "answer": answer,
        "outputs": deployment.outputs,
        "localstack": record.to_json(),
        "curl": curl_command_line(url, localstack.endpoint, SMOKE_PAYLOAD),
        "timings": [asdict(phase) for phase in timer.records],
    }


def destroy(
    *,
    root: Path = REPO_ROOT,
    state_dir: Path = STATE_DIR,
    env: dict[str, str] | None = None,
    out: Printer = print,
) -> None:
    """Destroy what ``deploy`` created in ``root`` and stop LocalStack if ``deploy`` started it."""
    timer = PhaseTimer()
    environment = dict(os.environ if env is None else env)
    with exclusive(state_dir):
        _recover(state_dir, out)
        record = read_record(state_dir)
        endpoint = record.endpoint if record else _endpoint_without_record(environment)
        ledger = RunLedger(state_dir, label="destroy")
        probe = Deployment(
            root,
            endpoint,
            timer,
            label="repo root",
            state_dir=state_dir,
            runner=functools.partial(run_bounded, tracker=ledger),
            refresh_before_destroy=True,
            tracker=ledger,
        )
        try:
            _destroy_root(root, endpoint, probe, out)
        finally:
            try:
                probe.close()
            finally:
                ledger.close()
        if record and record.owned:
            if record.is_alive():
                out(f"==> stopping the {record.source} LocalStack deploy started at {record.endpoint}")
                _stop_started(record)
            else:
                out(
                    f"==> the {record.source} LocalStack deploy started at {record.endpoint} is gone; "
                    "whatever answers there now was started by someone else and is left running"
                )
        elif record:
            out(f"==> leaving the {record.source} LocalStack at {record.endpoint} running (deploy did not start it)")
        (state_dir / RECORD_NAME).unlink(missing_ok=True)
    if timer.records:
        out("phase timings:\n" + timer.summary())


def _destroy_root(root: Path, endpoint: str, probe: Deployment, out: Printer) -> None:
    if probe.tflocal.has_state():
        if health(endpoint) is None:
            raise DeployError(
                f"{root}/terraform.tfstate lists resources but no LocalStack answers at {endpoint}. "
                "Start it again (`make start`) and retry, or delete terraform.tfstate if that "
                "LocalStack's data is gone for good."
            )
        clear_stale_override(root)
        outputs = probe.tflocal.outputs()
        out(f"==> tflocal destroy in the repo root against {endpoint}")
        probe.destroy()
        _check_nothing_left(endpoint, outputs, out)
    else:
        out("==> nothing deployed in the repo root (no resources in terraform.tfstate)")


def _check_nothing_left(endpoint: str, outputs: dict[str, Any], out: Printer) -> None:
    """Ask LocalStack itself (boto3) whether anything of the deployment survived the destroy."""
    names = ("function_name", "role_name", "log_group_name")
    if not all(outputs.get(name) for name in names):
        out("==> (outputs incomplete; skipped the leftover check)")
        return
    found = leftovers(endpoint, **{name: str(outputs[name]) for name in names})
    if found:
        raise DeployError("destroy finished but these still exist: " + ", ".join(found))
    out("==> checked with boto3: no function, URL, role, policy or log group left")


def _endpoint_without_record(env: dict[str, str]) -> str:
    return next((env[name].rstrip("/") for name in ENDPOINT_ENV_VARS if env.get(name)), DEFAULT_ENDPOINT)


def _recover(state_dir: Path, out: Printer) -> None:
    """Clear what a killed deploy/destroy (or test run) recorded before working in the same places."""
    actions = recover_stale_runs(state_dir)
    if actions:
        out("==> cleared what an interrupted run left behind:\n" + "\n".join(f"    {line}" for line in actions))


def _stop_started(record: LocalStackHandle) -> None:
    try:
        record.stop()  # checks PID and start time (or the container id) before any signal
    except (LocalStackUnavailableError, EmbeddedLocalStackError) as exc:
        raise DeployError(str(exc)) from exc
