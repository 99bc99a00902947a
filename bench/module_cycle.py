"""``python -m bench.module_cycle`` (``make bench-example``): examples/s3-sqs deployed and destroyed two ways.

* **plugin**: a ``Deployment`` of a harness session, exactly what the pytest plugin's ``terraform_deploy`` runs (one
  shared aws provider, ``destroy -refresh=false``, ``GOGC``) plus the check after destroy;
* **tflocal**: ``tflocal apply -auto-approve`` / ``tflocal destroy -auto-approve`` as a user types them (with
  ``S3_ENDPOINT`` set, which the example needs offline), no harness settings.

Both against one private embedded LocalStack serving s3 and sqs, from fresh workspaces, rounds alternating which
side goes first. Besides the cycles, LocalStack's request log gives what the aws provider waits for: the time from
``CreateQueue`` to the provider's next call on the queue after its attribute polls (``ListQueueTags``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.cli import RESULTS_DIR, private_localstack, run_directory
from bench.cycle import BareCycle, StockTflocal, plain_cycle
from bench.stats import median
from embedded_localstack.paths import state_root
from lambda_url_harness.localstack_log import ENTRY
from lambda_url_harness.session import HarnessSession
from lambda_url_harness.square.module import REPO_ROOT
from lambda_url_harness.workspace import create_workspace

log = logging.getLogger("bench")

EXAMPLE = REPO_ROOT / "examples" / "s3-sqs"
INCLUDE = ("*.tf", "src")
SERVICES = ("s3", "sqs")
SIDES = ("plugin", "tflocal")


@dataclass
class PluginCycle(BareCycle):
    init_s: float
    check_s: float
    """The check after destroy (part of ``destroy_s``)."""


def _variables(prefix: str, suffix: str) -> dict[str, str]:
    return {"name": f"{prefix}-{suffix}", "python_executable": sys.executable}


def plugin_cycle(endpoint: str, parent: Path, harness: HarnessSession) -> PluginCycle:
    workspace = create_workspace(EXAMPLE, parent, include=INCLUDE)
    deployment = harness.deployment(
        workspace.root, endpoint, variables=_variables("bplug", workspace.suffix), label=f"plugin:{workspace.suffix}"
    )
    try:
        started = time.perf_counter()
        deployment.init()
        init_s = time.perf_counter() - started
        started = time.perf_counter()
        deployment.apply()
        apply_s = time.perf_counter() - started
        started = time.perf_counter()
        deployment.destroy()
        destroy_s = time.perf_counter() - started
    finally:
        deployment.destroy()  # a no-op after a successful destroy
    check_s = next(record.seconds for record in reversed(harness.timer.records) if record.phase == "destroy check")
    return PluginCycle(apply_s=apply_s, destroy_s=destroy_s, init_s=init_s, check_s=check_s)


def tflocal_cycle(endpoint: str, parent: Path, state_dir: Path) -> BareCycle:
    workspace = create_workspace(EXAMPLE, parent, include=INCLUDE)
    return plain_cycle(StockTflocal(workspace, endpoint, state_dir, _variables("btfl", workspace.suffix)))


def queue_create_waits(log_file: Path) -> list[float]:
    """Seconds from each ``sqs.CreateQueue`` to the next ``sqs.ListQueueTags`` in LocalStack's request log: the aws
    provider's wait for the new queue's attributes (what it does next is read the queue's tags)."""
    waits, created = [], None
    for line in log_file.read_text(errors="replace").splitlines():
        match = ENTRY.match(line)
        if not match or "AWS sqs." not in line:
            continue
        stamp = datetime.fromisoformat(match.group(1)).timestamp()
        if "AWS sqs.CreateQueue " in line:
            created = stamp
        elif "AWS sqs.ListQueueTags " in line and created is not None:
            waits.append(round(stamp - created, 2))
            created = None
    return waits


def run(rounds: int) -> dict[str, Any]:
    plugin: list[PluginCycle] = []
    plain: list[BareCycle] = []
    with (
        run_directory("bench-example-") as run_dir,
        private_localstack(run_dir, services=SERVICES) as (settings, _),
        HarnessSession(state_root(), label="bench-example") as harness,
    ):
        for index in range(rounds):
            for side in SIDES[index % 2 :] + SIDES[: index % 2]:
                log.info("round %d/%d: %s cycle", index + 1, rounds, side)
                if side == "plugin":
                    plugin.append(plugin_cycle(settings.endpoint, run_dir / "workspaces", harness))
                else:
                    plain.append(tflocal_cycle(settings.endpoint, run_dir / "workspaces", harness.state_dir))
        waits = queue_create_waits(settings.log_file)
    plugin_cycle_s = median([run.cycle_s for run in plugin])
    tflocal_cycle_s = median([run.cycle_s for run in plain])
    return {
        "module": "examples/s3-sqs",
        "rounds": rounds,
        "plugin_cycle_s": round(plugin_cycle_s, 2),
        "plugin_apply_s": round(median([run.apply_s for run in plugin]), 2),
        "plugin_destroy_s": round(median([run.destroy_s for run in plugin]), 2),
        "plugin_check_s": round(median([run.check_s for run in plugin]), 2),
        "tflocal_cycle_s": round(tflocal_cycle_s, 2),
        "tflocal_apply_s": round(median([run.apply_s for run in plain]), 2),
        "tflocal_destroy_s": round(median([run.destroy_s for run in plain]), 2),
        "plugin_vs_tflocal_ratio": round(plugin_cycle_s / tflocal_cycle_s, 3),
        "queue_create_waits_s": waits,
        "cycles": {"plugin": [asdict(run) for run in plugin], "tflocal": [asdict(run) for run in plain]},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.module_cycle", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one cycle per side (>= 3 for the report)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for module-cycle.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    if args.rounds < 3:
        print("error: the report needs --rounds >= 3", file=sys.stderr)
        return 2
    result = run(args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "module-cycle.json").write_text(json.dumps(result, indent=2) + "\n")
    for key in ("plugin", "tflocal"):
        print(
            f"{key:<8} cycle {result[f'{key}_cycle_s']:6.1f} s  (apply {result[f'{key}_apply_s']:5.1f} s, "
            f"destroy {result[f'{key}_destroy_s']:5.1f} s)"
        )
    print(
        f"plugin/tflocal {result['plugin_vs_tflocal_ratio']}; the plugin's check after destroy "
        f"{result['plugin_check_s']} s; aws provider's wait after CreateQueue: {result['queue_create_waits_s']} s"
    )
    print(f"written: {args.out / 'module-cycle.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
