"""A background thread that reads every worker's CPU and memory from the scheduler, periodically."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .report import WorkerSample

__all__ = ["WorkerSampler"]

log = logging.getLogger(__name__)


class WorkerSampler:
    """Samples ``scheduler_info()`` every ``interval`` seconds until stopped.

    The scheduler already holds each worker's latest heartbeat metrics, so one call per
    tick reads the whole cluster; nothing runs on the workers.
    """

    def __init__(self, client: Any, interval: float) -> None:
        self._client = client
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pycluster-profiler-sampler", daemon=True)
        self.samples: list[WorkerSample] = []
        self.names: dict[str, str] = {}
        self.limits: dict[str, int] = {}
        self.errors = 0
        self._last: dict[str, float] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 30)
        self.sample()  # the window's last reading, so a window shorter than a tick still has one

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        try:
            info = self._client.scheduler_info(n_workers=-1)
        except Exception as exc:  # a scheduler busy or gone for a tick: keep the samples we have
            self.errors += 1
            log.debug("profiler: scheduler_info failed: %s", exc)
            return
        now = time.time()
        for address, worker in info.get("workers", {}).items():
            metrics = worker.get("metrics", {})
            self.names[address] = str(worker.get("name", address))
            self.limits[address] = int(worker.get("memory_limit") or 0)
            measured = float(metrics.get("time") or now)
            if self._last.get(address) == measured:  # no heartbeat since the last tick: not a new reading
                continue
            self._last[address] = measured
            self.samples.append(
                WorkerSample(
                    time=measured,
                    worker=address,
                    cpu_percent=float(metrics.get("cpu") or 0.0),
                    memory_bytes=int(metrics.get("memory") or 0),
                )
            )
