"""Every worker reports its machine's GPUs to the head: a Dask worker plugin.

The head registers :class:`GPUReporter` on its scheduler, so every worker that joins (a
``pycluster worker``, a local worker, or any Dask worker with pycluster installed) gets it.
The plugin starts a :class:`~pycluster.gpu.GPUMonitor` thread in the worker process and
adds a ``gpus`` entry to the worker's metrics, which reach the scheduler with each
heartbeat: reading it costs a dict copy, never an NVML call on the worker's event loop.

A worker pinned to some GPUs (``CUDA_VISIBLE_DEVICES``, as ``pycluster worker --gpus`` sets)
reads only those; others read every GPU of the machine. The head merges the reports of a
host's workers (see :mod:`pycluster.monitor.gpu_cluster`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ..config import Settings
from .monitor import GPUMonitor
from .reader import GPUReader, machine_reader

__all__ = ["PLUGIN_NAME", "GPUReporter", "visible_devices"]

PLUGIN_NAME = "pycluster-gpu"


class GPUReporter(WorkerPlugin):
    """Adds ``metrics["gpus"]`` to a worker: its GPUs' latest reading, refreshed every ``interval``."""

    name = PLUGIN_NAME

    def __init__(self, interval: float = 1.0, reader: GPUReader | None = None) -> None:
        self.interval = interval
        # None: this machine's (NVML, or the recording PYCLUSTER_GPU_RECORDING names in the
        # worker's environment); a RecordedReader passed here replays its readings (tests, demos)
        self.reader = reader
        self.monitor: GPUMonitor | None = None

    async def setup(self, worker: Any) -> None:
        # starting NVML can take a second on a big machine: not on the worker's event loop.
        # The worker needs no history or alerts: the head keeps those for the whole cluster.
        reader = self.reader or machine_reader(visible_devices())
        self.monitor = await asyncio.to_thread(GPUMonitor, Settings(), reader=reader, retention=0)
        self.monitor.start_monitoring(self.interval)
        worker.metrics["gpus"] = self.report

    def teardown(self, worker: Any) -> None:
        worker.metrics.pop("gpus", None)
        if self.monitor is not None:
            self.monitor.close()

    def report(self, worker: Any = None) -> dict[str, Any]:
        """What the heartbeat carries: the monitor's status without re-reading the GPUs."""
        if self.monitor is None:
            return {"available": False, "reason": "the GPU reporter is not set up", "gpus": []}
        # without a GPU this returns a constant at once; with one, the thread's latest reading
        status = self.monitor.get_gpu_status()
        return {**status, "alerts": [], "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def visible_devices(env: str | None = None) -> list[int | str] | None:
    """The GPUs ``CUDA_VISIBLE_DEVICES`` names (indices or ``GPU-`` uuids), or None for all.

    Indices are taken in NVML's (PCI bus) order, which is what ``--gpus`` pins with
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID``.

    >>> visible_devices("1,3"), visible_devices("GPU-8f0c"), visible_devices(""), visible_devices("MIG-1")
    ([1, 3], ['GPU-8f0c'], None, None)
    """
    text = os.environ.get("CUDA_VISIBLE_DEVICES") if env is None else env
    if not text or not text.strip():
        return None
    devices: list[int | str] = []
    for item in (i.strip() for i in text.split(",")):
        if item.isdigit():
            devices.append(int(item))
        elif item.startswith("GPU-"):
            devices.append(item)
        else:
            return None  # MIG slices, -1 and the like: report the whole machine
    return devices
