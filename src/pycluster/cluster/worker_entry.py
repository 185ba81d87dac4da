"""``python -m pycluster.cluster.worker_entry PARENT_PID``: one local worker process.

How :class:`~pycluster.cluster.worker_process.WorkerProcess` starts a worker without a
Nanny: the options come from ``PYCLUSTER_WORKER_OPTIONS`` (JSON) and the key from
``PYCLUSTER_AUTH_KEY``, so nothing secret is on the command line, and the interpreter
imports only what a worker needs (not the command line interface), which is most of
a local worker's start-up time.
"""

from __future__ import annotations

import os
import sys

from .worker_options import WorkerOptions
from .worker_runner import run_workers

__all__ = ["OPTIONS_VARIABLE", "main"]

OPTIONS_VARIABLE = "PYCLUSTER_WORKER_OPTIONS"


def main(argv: list[str]) -> int:
    options = WorkerOptions.from_json(os.environ[OPTIONS_VARIABLE], os.environ.get("PYCLUSTER_AUTH_KEY"))
    watch_pid = int(argv[0]) if argv else None
    # started by the head it joins, with that head's key: no need to probe the key first
    return run_workers(options, watch_pid=watch_pid, announce=_announce, trusted=True)


def _announce(message: str) -> None:
    print(message, file=sys.stderr if message.startswith("error: ") else sys.stdout, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
