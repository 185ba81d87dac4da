"""A scheduler plugin that logs workers joining and leaving (INFO) and clients (DEBUG).

Dask logs the same at INFO under ``distributed.scheduler``, but a head keeps Dask at WARNING
(its INFO is mostly chatter), so without this the head said nothing about its workers.
"""

from __future__ import annotations

import logging
from typing import Any

from dask.utils import format_bytes
from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["WorkerLog"]

_log = logging.getLogger("pycluster.cluster.workers")


class WorkerLog(SchedulerPlugin):
    name = "pycluster-worker-log"

    def add_worker(self, scheduler: Any, worker: str) -> None:
        ws = scheduler.workers.get(worker)
        if ws is None:  # gone again before the plugin ran
            return
        memory = format_bytes(ws.memory_limit) if ws.memory_limit else "no limit"
        named = f" {ws.name!r}" if str(ws.name) != worker else ""
        _log.info(
            "worker joined: %s%s (%d threads, memory %s); %d workers",
            worker,
            named,
            ws.nthreads,
            memory,
            len(scheduler.workers),
        )

    def remove_worker(self, scheduler: Any, worker: str, *, stimulus_id: str, **kwargs: Any) -> None:
        _log.info("worker left: %s; %d workers", worker, len(scheduler.workers))
        _log.debug("worker %s removed by %s", worker, stimulus_id)

    def add_client(self, scheduler: Any, client: str) -> None:
        _log.debug("client connected: %s", client)

    def remove_client(self, scheduler: Any, client: str) -> None:
        _log.debug("client disconnected: %s", client)
