"""The GPU device layer: NVML, readings, this machine's monitor, pinning and the worker plugin.

``nvml`` finds NVML (or why not), ``reader`` reads every GPU field from it (or replays
recorded readings), ``readings`` turns them into the units people read, ``monitor`` is
:class:`GPUMonitor` (a polling thread with history and alerts), ``pinning`` turns
``--gpus`` into per-worker device sets, and ``worker_plugin`` makes every Dask worker report
its GPUs with its heartbeats. The cluster-wide view, the head's GPU service and the
``pycluster gpu`` table are built on this layer in :mod:`pycluster.monitor`.
"""

from __future__ import annotations

from .monitor import GPUMonitor
from .reader import GPUReader, NvmlReader, RecordedReader

__all__ = ["GPUMonitor", "GPUReader", "NvmlReader", "RecordedReader"]
