"""``python -m pycluster.cluster.worker_entry PARENT_PID``: one local worker process.

How :class:`~pycluster.cluster.worker_process.WorkerProcess` starts a worker without a
Nanny: the options come from ``PYCLUSTER_WORKER_OPTIONS`` (JSON) and the key from
``PYCLUSTER_AUTH_KEY``, so nothing secret is on the command line, and the interpreter
imports only what a worker needs (not the command line interface), which is most of
a local worker's start-up time. What the head already has is handed over rather than
made again in every worker: its TLS leaf, issued by the head (``PYCLUSTER_WORKER_TLS``,
:class:`~pycluster.cluster.security.NodeTLS`: no key derivation, no ``cryptography``
import), and Dask's sizeof plugins (:mod:`~pycluster.cluster.sizeof_plugins`: no scan of
every installed package).

Native thread pools (OpenMP, MKL, OpenBLAS: what torch and numpy compute with) are
bounded to the worker's ``nthreads`` unless the user set any of their variables (then
their choice stands whole: torch takes the smallest of OMP's and MKL's): each of these
libraries otherwise starts one thread per core of the machine, so N workers on one
machine would run N x cores threads and slow each other down. Dask's Nanny does the
same for the workers it spawns (``distributed.nanny.pre-spawn-environ``), with 1.
"""

from __future__ import annotations

import gc
import os
import sys

from . import sizeof_plugins
from .security import NodeTLS
from .worker_options import WorkerOptions

__all__ = ["NATIVE_THREAD_VARIABLES", "OPTIONS_VARIABLE", "TLS_VARIABLE", "bound_native_threads", "main"]

OPTIONS_VARIABLE = "PYCLUSTER_WORKER_OPTIONS"
TLS_VARIABLE = "PYCLUSTER_WORKER_TLS"
# read once, when each library loads: so they must be set before numpy (which Dask
# imports) or torch (which a task imports) is imported in this process
NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def bound_native_threads(nthreads: int) -> None:
    """Set :data:`NATIVE_THREAD_VARIABLES` to ``nthreads``, unless the user set any of them."""
    if any(name in os.environ for name in NATIVE_THREAD_VARIABLES):
        return
    for name in NATIVE_THREAD_VARIABLES:
        os.environ[name] = str(nthreads)


def main(argv: list[str]) -> int:
    options = WorkerOptions.from_json(os.environ[OPTIONS_VARIABLE], os.environ.get("PYCLUSTER_AUTH_KEY"))
    # not inherited by what tasks start: the leaf is this worker's alone
    tls_text = os.environ.pop(TLS_VARIABLE, None)
    tls = NodeTLS.from_json(tls_text) if tls_text and options.auth_key else None
    bound_native_threads(options.effective_threads())
    # Dask's import is most of a worker's start-up; it makes no garbage, yet its allocations
    # set off collections that walk every object made so far: ~8% of its time, measured
    gc.disable()
    try:
        with sizeof_plugins.handed_over(os.environ.get(sizeof_plugins.VARIABLE)):
            from .worker_runner import run_workers
    finally:
        gc.enable()
    watch_pid = int(argv[0]) if argv else None
    # started by the head it joins, with that head's key: no need to probe the key first
    return run_workers(options, watch_pid=watch_pid, announce=_announce, trusted=True, tls=tls)


def _announce(message: str) -> None:
    print(message, file=sys.stderr if message.startswith("error: ") else sys.stdout, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
