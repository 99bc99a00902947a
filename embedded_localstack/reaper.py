"""The process that ends a LocalStack's function sandboxes when LocalStack ends without ending them.

bwrap's ``--die-with-parent`` leaves one instant of a sandbox's start uncovered (bubblewrap 0.8): bwrap clones the
sandbox's first process, which waits on an eventfd until bwrap has set the namespace up; a LocalStack SIGKILLed in
between kills bwrap (parent-death signal) and leaves that process waiting forever, as pid 1 of its namespace.
Nothing inside LocalStack can end it once LocalStack is dead, so each sandboxed LocalStack starts one reaper:
``python -m embedded_localstack.reaper <LocalStack pid>``, in its own session, waiting on a pidfd of LocalStack.
When LocalStack has ended (stop, crash or SIGKILL) it SIGKILLs whatever is left in LocalStack's environment
cgroups (every sandbox process is put there before bwrap starts), removes them and exits.

Standard library only.
"""

from __future__ import annotations

import logging
import os
import select
import sys

from embedded_localstack.sandbox import end_leftovers

LOG = logging.getLogger("embedded_localstack.reaper")


def wait_for_end(owner: int) -> None:
    """Return once the process ``owner`` (this process's parent) has ended."""
    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:
        return
    try:
        if os.getppid() != owner:
            return  # it ended before the pidfd was opened: the pid may already be another process's
        select.select([pidfd], [], [])  # a pidfd is readable once its process has exited
    finally:
        os.close(pidfd)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m embedded_localstack.reaper <LocalStack pid>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    owner = int(argv[0])
    wait_for_end(owner)
    end_leftovers(owner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
