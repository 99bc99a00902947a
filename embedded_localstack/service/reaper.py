"""The process that ends a LocalStack's function sandboxes when LocalStack ends without ending them.

bwrap's ``--die-with-parent`` leaves one instant of a sandbox's start uncovered (bubblewrap 0.8): bwrap clones the
sandbox's first process, which waits on an eventfd until bwrap has set the namespace up; a LocalStack SIGKILLed in
between kills bwrap (parent-death signal) and leaves that process waiting forever, as pid 1 of its namespace.
Nothing inside LocalStack can end it once LocalStack is dead, so each sandboxed LocalStack starts one reaper:
``python -m embedded_localstack.service.reaper <LocalStack pid> <pidfd>`` (``sandbox.start_reaper``), in its own
session, with a pidfd of LocalStack. When LocalStack has ended (stop, crash or SIGKILL) it gives the kernel a moment
to end what ends with LocalStack, then SIGKILLs whatever is still in LocalStack's environment cgroups (a sandbox
joins them before bwrap starts), removes them and exits (``sandbox.end_leftovers``).

Standard library only.
"""

from __future__ import annotations

import logging
import os
import select
import sys
from pathlib import Path

from embedded_localstack.service.sandbox.cgroups import end_leftovers

LOG = logging.getLogger("embedded_localstack.service.reaper")
USAGE = "usage: python -m embedded_localstack.service.reaper <LocalStack pid> <pidfd of it>"


def _not_a_pidfd_of(owner: int, pidfd: int) -> str | None:
    """Why descriptor ``pidfd`` is not a pidfd of process ``owner``, or None (-1: that process has been reaped)."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines())
    except (OSError, ValueError) as error:
        return f"descriptor {pidfd}: {error}"
    if fields.get("Pid", "").strip() not in (str(owner), "-1"):
        return f"descriptor {pidfd} is not a pidfd of process {owner}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(arg.isdigit() and int(arg) > 0 for arg in argv):
        print(USAGE, file=sys.stderr)
        return 2
    owner, pidfd = (int(arg) for arg in argv)
    if (problem := _not_a_pidfd_of(owner, pidfd)) is not None:
        print(f"{USAGE}\n{problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    LOG.info("reaper %s: watching LocalStack %s", os.getpid(), owner)
    select.select([pidfd], [], [])  # a pidfd is readable once its process has exited
    os.close(pidfd)
    end_leftovers(owner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
