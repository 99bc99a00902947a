"""``python -m lambda_url_harness deploy|destroy|recover|destroy-kept`` (``make deploy`` / ``make destroy``: the first
two)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from embedded_localstack.paths import state_root
from lambda_url_harness.discovery import Mode
from lambda_url_harness.errors import USER_FACING_ERRORS
from lambda_url_harness.kept import destroy_kept, kept_working_dirs
from lambda_url_harness.localstack_handle import DEFAULT_PORT
from lambda_url_harness.session import HarnessSession, recover_stale_runs
from lambda_url_harness.square.module import REPO_ROOT
from lambda_url_harness.square.root_deploy import deploy, destroy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lambda_url_harness",
        description="Deploy the square Lambda module in the repo root against LocalStack, or destroy it; destroy "
        "deployments a test run kept.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step (debug level)")
    commands = parser.add_subparsers(dest="command", required=True)
    deploy_parser = commands.add_parser("deploy", help="find or start LocalStack, tflocal apply, call the URL")
    deploy_parser.add_argument(
        "--localstack",
        choices=[mode.value for mode in Mode],
        default=Mode.AUTO.value,
        help="auto: LOCALSTACK_ENDPOINT/AWS_ENDPOINT_URL, then 127.0.0.1:4566, then Docker, then embedded",
    )
    deploy_parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (function_url, answer, outputs, localstack, curl, timings) on stdout; "
        "progress goes to stderr",
    )
    deploy_parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="where LocalStack is looked for and started (default 4566)"
    )
    destroy_parser = commands.add_parser(
        "destroy", help="tflocal destroy in the repo root; stop LocalStack if deploy started it"
    )
    recover_parser = commands.add_parser(
        "recover", help="clear what killed runs left behind (deploy, destroy and pytest do this first anyway)"
    )
    for sub in (deploy_parser, destroy_parser, recover_parser):
        # For tests and alternative checkouts: another module copy and its own bookkeeping.
        sub.add_argument("--root", type=Path, default=REPO_ROOT, help="the Terraform root (default: the repo root)")
    kept_parser = commands.add_parser(
        "destroy-kept",
        help="destroy deployments a test run kept (--keep-deployments), check that nothing is left, remove them",
    )
    kept_parser.add_argument(
        "paths", type=Path, nargs="*", help="kept working dirs (default: every one under the state dir's kept/)"
    )
    for sub in (deploy_parser, destroy_parser, recover_parser, kept_parser):
        sub.add_argument("--state-dir", type=Path, default=None, help="records, locks, LocalStack state")
    return parser


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state_dir: Path = args.state_dir or state_root()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        if args.command == "deploy":
            if args.json:
                result = deploy(
                    Mode(args.localstack), root=args.root, state_dir=state_dir, port=args.port, out=_to_stderr
                )
                print(json.dumps(result, indent=2))
            else:
                deploy(Mode(args.localstack), root=args.root, state_dir=state_dir, port=args.port)
        elif args.command == "destroy":
            destroy(root=args.root, state_dir=state_dir)
        elif args.command == "destroy-kept":
            return _destroy_kept(args.paths, state_dir)
        else:
            actions = recover_stale_runs(state_dir)
            print("\n".join(actions) if actions else "nothing to recover")
    except USER_FACING_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _destroy_kept(paths: list[Path], state_dir: Path) -> int:
    """Each kept deployment in turn; every failure is printed, and the exit code says whether there was one."""
    working_dirs = kept_working_dirs([path.resolve() for path in paths], state_dir)
    if not working_dirs:
        print("no kept deployments")
        return 0
    failed = 0
    with HarnessSession(state_dir, label="destroy-kept") as session:
        for working_dir in working_dirs:
            try:
                print(destroy_kept(session, working_dir))
            except USER_FACING_ERRORS as exc:
                print(f"error: {working_dir}: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0
