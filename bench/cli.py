"""``python -m bench``: start a private embedded LocalStack, measure, report, stop it (nothing left running)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cycle, functions, http_load, machine, report, sandbox_compare
from bench.loopback_server import loopback_server
from bench.stats import latency_summary_ms, median
from embedded_localstack.control.lifecycle import EmbeddedSettings, running_pid, stop
from embedded_localstack.control.ports import free_port, port_is_free
from embedded_localstack.control.processes import is_running, process_tree
from embedded_localstack.paths import state_root
from lambda_url_harness.session import HarnessSession
from lambda_url_harness.square.module import REPO_ROOT

log = logging.getLogger("bench")

RESULTS_DIR = REPO_ROOT / "bench" / "results"
START_TIMEOUT_S = 120.0
CONCURRENCIES = (1, 4, 8)


@dataclass
class Samples:
    """Raw samples (seconds), kept next to latest.json for the plot and for later analysis."""

    python_floor: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    loopback: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    throughput: dict[str, dict[str, Any]] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    """Figures that explain the others (CPU per call, every cycle's phases)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--pairs", type=int, default=3, help="rounds of harness/stock/bare apply+destroy cycles (>= 3 for the report)"
    )
    parser.add_argument("--warm-calls", type=int, default=1000, help="sequential keep-alive URL calls (>= 500)")
    parser.add_argument("--cold-versions", type=int, default=8, help="fresh function versions to cold-start (>= 5)")
    parser.add_argument("--python-floor-runs", type=int, default=30, help="interpreter starts for the python floor")
    parser.add_argument("--throughput-seconds", type=float, default=10.0, help="duration per concurrency level")
    parser.add_argument("--throughput-max-calls", type=int, default=20000, help="upper bound of calls per level")
    parser.add_argument("--sandbox-calls", type=int, default=500, help="warm calls per sandbox mode (0: skip)")
    parser.add_argument("--skip-terraform", action="store_true", help="latency only (terraform keys become null)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for latest.json and the plot")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("bench").setLevel(logging.INFO)
    if args.warm_calls < 500 or args.cold_versions < 5 or (args.pairs < 3 and not args.skip_terraform):
        print("error: the report needs --warm-calls >= 500, --cold-versions >= 5 and --pairs >= 3", file=sys.stderr)
        return 2
    began = time.perf_counter()
    result, samples = run(args)
    write_outputs(args.out, result, samples)
    print(report.table(result))
    print(f"\nwritten: {args.out / 'latest.json'}, {args.out / 'latency.png'}, {args.out / 'samples.json'}")
    print(f"bench took {time.perf_counter() - began:.0f} s")
    return 0


@contextlib.contextmanager
def private_localstack(
    run_dir: Path, environment: dict[str, str] | None = None, *, stock: bool = False, services: Sequence[str] = ()
) -> Iterator[tuple[EmbeddedSettings, float]]:
    """An embedded LocalStack on a free port with its state dir under ``run_dir``, started the way ``make start`` does.

    ``environment``: added to the starting command's environment (e.g. the sandbox mode). ``stock``:
    ``start --stock``, none of the performance settings (lifecycle.PERFORMANCE_SETTINGS, the tuning patches).
    ``services``: served besides the default ones.
    """
    settings = EmbeddedSettings(port=free_port(), state_dir=run_dir / "localstack", tuned=not stock)
    argv = [sys.executable, "-m", "embedded_localstack", "start", "--port", str(settings.port)]
    argv += ["--state-dir", str(settings.state_dir), *(["--stock"] if stock else [])]
    argv += ["--services", ",".join(services)] if services else []
    env = {**os.environ, **(environment or {})}
    started = time.perf_counter()
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False, env=env)
        ready_s = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"embedded LocalStack did not start: {completed.stderr.strip()}")
        log.info("LocalStack healthy at %s after %.2f s", settings.endpoint, ready_s)
        yield settings, ready_s
    finally:
        pid = running_pid(settings)
        leftovers = process_tree(pid) if pid else set()
        stop(settings)
        alive = {p for p in leftovers if is_running(p)}
        if alive or not port_is_free(settings.host, settings.port):
            log.error(
                "after stop: processes %s alive, port %s free: %s",
                sorted(alive),
                settings.port,
                port_is_free(settings.host, settings.port),
            )
        else:
            log.info("LocalStack stopped; no process left, port %s free", settings.port)


@contextlib.contextmanager
def run_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory under the state root for one benchmark run; removed when the run succeeds, kept (with
    LocalStack's log and the workspaces) when it fails."""
    state_dir = state_root()
    state_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=state_dir))
    try:
        yield run_dir
    except BaseException:
        log.error("benchmark failed; LocalStack's log and the workspaces are kept in %s", run_dir)
        raise
    shutil.rmtree(run_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], Samples]:
    samples = Samples()
    sandbox: dict[str, Any] = {"warm_p50_ratio": None, "cold_start_ratio": None, "freeze_thaw_ms": None}
    state_dir = state_root()
    with run_directory("bench-") as run_dir, contextlib.ExitStack() as localstacks:
        settings, ready_s = localstacks.enter_context(private_localstack(run_dir))
        endpoint = settings.endpoint
        pid = running_pid(settings)
        log.info("python floor: %d interpreter starts", args.python_floor_runs)
        samples.python_floor = functions.python_floor(args.python_floor_runs)
        with functions.bench_function(endpoint, f"bench-square-{settings.port}") as function:
            measure_latency(args, endpoint, function, pid, samples)
        cycles = None
        if args.sandbox_calls:
            sandbox = sandbox_compare.compare(private_localstack, run_dir, args.sandbox_calls, args.cold_versions)
        if not args.skip_terraform:
            stock, _ = localstacks.enter_context(private_localstack(run_dir / "stock", stock=True))
            log.info("terraform: %d rounds of harness/stock/bare cycles (~2 min each)", args.pairs)
            with HarnessSession(state_dir, label="bench") as harness:
                cycles = cycle.run_rounds(endpoint, stock.endpoint, run_dir / "workspaces", args.pairs, harness)
    result = compose(ready_s, samples, cycles)
    result["sandbox"] = sandbox
    return result, samples


def measure_latency(
    args: argparse.Namespace, endpoint: str, function: functions.BenchFunction, pid: int | None, samples: Samples
) -> None:
    log.info("warm: %d sequential calls to %s", args.warm_calls, function.url)
    cpu_before = machine.tree_cpu_seconds(pid) if pid else (0.0, 0.0)
    samples.warm = http_load.sequential_latencies(function.target, args.warm_calls)
    if pid:
        cpu_after = machine.tree_cpu_seconds(pid)
        samples.diagnostics["localstack_cpu_ms_per_warm_call"] = (cpu_after[0] - cpu_before[0]) * 1000 / args.warm_calls
    with loopback_server() as url:
        floor_target = http_load.Target(url, function.target.host_header, functions.PAYLOAD, functions.EXPECTED)
        samples.loopback = http_load.sequential_latencies(floor_target, args.warm_calls)
    for concurrency in CONCURRENCIES:
        log.info("throughput: concurrency %d for %.0f s", concurrency, args.throughput_seconds)
        outcome = http_load.throughput(function.target, concurrency, args.throughput_seconds, args.throughput_max_calls)
        if outcome.errors:
            log.warning("concurrency %d: %d errors, first: %s", concurrency, outcome.errors, outcome.first_error)
        samples.throughput[str(concurrency)] = {
            "rps": outcome.requests_per_second,
            "completed": outcome.completed,
            "errors": outcome.errors,
            "seconds": outcome.seconds,
            **latency_summary_ms(outcome.latencies_s),
        }
    log.info("cold start: %d fresh versions", args.cold_versions)
    samples.cold = functions.cold_starts(endpoint, function, args.cold_versions)


def _ms(value_s: float) -> float:
    return round(value_s * 1000, 3)


def compose(ready_s: float, samples: Samples, cycles: cycle.CycleResults | None) -> dict[str, Any]:
    result: dict[str, Any] = {"localstack_ready_s": round(ready_s, 3)}
    if cycles:
        harness, bare, stock = cycles.harness, cycles.bare, cycles.stock
        result["terraform"] = {
            name: round(median([getattr(run, name) for run in harness]), 3)
            for name in ("init_s", "apply_s", "first_200_s", "destroy_s")
        }
        for key, runs in (("bare_terraform", bare), ("stock_terraform", stock)):
            result[key] = {
                name: round(median([getattr(run, name) for run in runs]), 3) for name in ("apply_s", "destroy_s")
            }
        harness_cycle_s = median([run.cycle_s for run in harness])
        result["cycle_overhead_ratio"] = round(harness_cycle_s / median([run.cycle_s for run in bare]), 4)
        result["cycle_vs_stock_ratio"] = round(harness_cycle_s / median([run.cycle_s for run in stock]), 4)
        every_cycle: dict[str, Sequence[cycle.BareCycle]] = {
            "harness_cycles": harness,
            "bare_cycles": bare,
            "stock_cycles": stock,
        }
        for key, cycles_of_side in every_cycle.items():
            samples.diagnostics[key] = [vars(run) for run in cycles_of_side]
    else:
        result["terraform"] = {"init_s": None, "apply_s": None, "first_200_s": None, "destroy_s": None}
        result["bare_terraform"] = {"apply_s": None, "destroy_s": None}
        result["stock_terraform"] = {"apply_s": None, "destroy_s": None}
        result["cycle_overhead_ratio"] = None
        result["cycle_vs_stock_ratio"] = None
    result["python_floor_ms"] = _ms(median(samples.python_floor))
    result["cold_start_ms"] = _ms(median(samples.cold))
    result["warm_ms"] = latency_summary_ms(samples.warm)
    loopback = latency_summary_ms(samples.loopback)
    result["loopback_floor_ms"] = {"p50": loopback["p50"], "p99": loopback["p99"]}
    result["throughput_rps"] = {level: round(data["rps"], 1) for level, data in samples.throughput.items()}
    result["ratios"] = {
        "warm_p50_vs_loopback_p50": round(result["warm_ms"]["p50"] / loopback["p50"], 2),
        "warm_p99_vs_loopback_p50": round(result["warm_ms"]["p99"] / loopback["p50"], 2),
        "throughput_c8_vs_c1": round(samples.throughput["8"]["rps"] / samples.throughput["1"]["rps"], 3),
        "cold_start_vs_python_floor": round(median(samples.cold) / median(samples.python_floor), 3),
    }
    return result


def write_outputs(directory: Path, result: dict[str, Any], samples: Samples) -> None:
    report.write_json(result, directory / "latest.json")
    detail: dict[str, Any] = {
        "machine": machine.describe(),
        "samples_s": {
            "python_floor": samples.python_floor,
            "warm": samples.warm,
            "loopback": samples.loopback,
            "cold": samples.cold,
        },
        "throughput": samples.throughput,
        "diagnostics": samples.diagnostics,
    }
    (directory / "samples.json").write_text(json.dumps(detail, indent=1) + "\n")
    report.plot_latency(
        directory / "latency.png",
        samples.warm,
        samples.loopback,
        samples.cold,
        samples.python_floor,
        title=f"Function URL latency, embedded LocalStack ({detail['machine']['cores']} cores), "
        f"warm p50 {result['warm_ms']['p50']:.1f} ms vs loopback {result['loopback_floor_ms']['p50']:.2f} ms",
    )
    log.info("median python floor %.1f ms", statistics.median(samples.python_floor) * 1000)
