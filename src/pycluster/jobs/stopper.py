"""Stopping pieces that are already running: Dask's cancel alone never stops Python code.

``Client.cancel`` forgets a task, but the worker thread running it carries on until the
function returns (a piece stuck in a loop runs forever, holding a core). So when a job is
cancelled or runs past its ``timeout_s``, :class:`PieceStopper`:

1. asks the scheduler which workers run the pieces (for the job's error message),
2. cancels the futures, then
3. on each of those workers, ends the worker *process* if one of the pieces is still
   executing there (``os._exit``). The head's local workers are supervised
   (:class:`~pycluster.cluster.local_workers.LocalWorkers`) and started again at once;
   the scheduler moves the other tasks of that worker elsewhere, as for any lost worker.

Steps 2 and 3 run on a background thread, so the dispatcher never waits on a worker that
does not answer (one stopped with SIGSTOP answers nobody until the scheduler's
``worker-ttl`` drops it). A worker in the head's own process is never ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from distributed import Client, Future

__all__ = ["PieceStopper"]

log = logging.getLogger(__name__)

# how long the dispatcher waits for the scheduler to say where pieces run
LOCATE_TIMEOUT = 5.0
_EXIT_DELAY = 0.1
_EXIT_CODE = 75  # not 0: the supervisor starts a worker that exits non-zero again


class PieceStopper:
    """Finds, cancels and really stops running pieces of one cluster (see the module doc)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pycluster-locate")

    def locate(self, keys: Iterable[str]) -> dict[str, str]:
        """Worker address per key of the pieces the scheduler has on a worker now ({} if it cannot say)."""
        wanted = list(keys)
        if not wanted:
            return {}
        try:
            where = self._pool.submit(self.client.run_on_scheduler, _processing_on, wanted)
            found: dict[str, str] = where.result(timeout=LOCATE_TIMEOUT)
        except Exception:  # the scheduler is busy or gone: stop them anyway, unnamed
            return {}
        return found

    def stop(self, futures: list[Future[Any]], workers: Iterable[str]) -> None:
        """Cancel ``futures`` and end the worker processes among ``workers`` still running one."""
        keys = [str(f.key) for f in futures]
        addresses = sorted(set(workers))
        thread = threading.Thread(
            target=self._stop, args=(futures, keys, addresses), name="pycluster-stop-pieces", daemon=True
        )
        thread.start()

    def _stop(self, futures: list[Future[Any]], keys: list[str], addresses: list[str]) -> None:
        with contextlib.suppress(Exception):  # the cluster may already be gone
            self.client.cancel(futures)
        if not addresses:
            return
        try:
            self.client.run(_exit_if_running, keys, os.getpid(), workers=addresses, on_error="return")
        except Exception as exc:  # an ended worker cannot answer; that is the point
            log.debug("stopping pieces on %s: %s", addresses, exc)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _processing_on(keys: list[str], dask_scheduler: Any = None) -> dict[str, str]:
    """On the scheduler: the worker each of ``keys`` is processing on."""
    found: dict[str, str] = {}
    for key in keys:
        ts = dask_scheduler.tasks.get(key)
        if ts is not None and ts.processing_on is not None:
            found[key] = ts.processing_on.address
    return found


def _exit_if_running(keys: list[str], head_pid: int, dask_worker: Any = None) -> bool:
    """On a worker: end this process if it executes one of ``keys`` (a thread cannot be stopped)."""
    running = ("executing", "long-running")
    for key in keys:
        ts = dask_worker.state.tasks.get(key)
        if ts is None:
            continue
        executing = ts.state in running or (ts.state == "cancelled" and ts.previous in running)
        if executing and os.getpid() != head_pid:
            print(
                f"pycluster: ending this worker process to stop the cancelled or timed-out piece {key}",
                file=sys.stderr,
                flush=True,
            )
            # a moment later, so the answer reaches the scheduler (no "broadcast failed" error)
            threading.Timer(_EXIT_DELAY, os._exit, (_EXIT_CODE,)).start()
            return True
    return False
