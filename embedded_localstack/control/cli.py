"""``python -m embedded_localstack start|stop|status``: the embedded LocalStack from the command line.

Exit codes: 0 success (``status``: running and healthy), 1 failure (``status``: not running), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from embedded_localstack.control.health import DEFAULT_SERVICES, is_healthy, parse_services
from embedded_localstack.control.lifecycle import EmbeddedSettings, running_pid, start, stop
from embedded_localstack.errors import EmbeddedLocalStackError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m embedded_localstack",
        description="Run LocalStack as a host process with the Docker-free local-process Lambda executor.",
    )
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--host", default=EmbeddedSettings.host, help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=EmbeddedSettings.port, help="gateway port (default 4566)")
    parser.add_argument("--state-dir", type=Path, default=None, help="data, log and PID file location")
    parser.add_argument(
        "--services",
        default="",
        metavar="S3,SQS,...",
        help=f"LocalStack services to serve in addition to {','.join(DEFAULT_SERVICES)} (comma-separated)",
    )
    parser.add_argument(
        "--stock",
        action="store_true",
        help="start without the embedded mode's performance settings (LocalStack's defaults; a benchmark baseline)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        overrides = {"state_dir": args.state_dir} if args.state_dir else {}
        settings = EmbeddedSettings(
            host=args.host, port=args.port, services=parse_services(args.services), tuned=not args.stock, **overrides
        )
    except ValueError as error:
        parser.error(str(error))  # exits with 2
    try:
        if args.command == "start":
            instance = start(settings)
            origin = "started" if instance.owned else "reusing running"
            print(f"{origin} LocalStack (pid {instance.pid or 'unknown'}); log: {settings.log_file}", file=sys.stderr)
            print(instance.endpoint)
            return 0
        if args.command == "stop":
            stopped = stop(settings)
            print("stopped LocalStack" if stopped else "no embedded LocalStack was running", file=sys.stderr)
            return 0
        pid = running_pid(settings)
        healthy = is_healthy(settings.endpoint)
        print(f"{settings.endpoint}: {'healthy' if healthy else 'not reachable'}; pid file: {pid or 'none'}")
        return 0 if healthy else 1
    except EmbeddedLocalStackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
