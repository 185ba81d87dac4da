"""The GPU device layer: NVML, readings, this machine's monitor, pinning and the worker plugin.

``nvml`` finds NVML (or why not), ``reader`` reads every GPU field from it (or replays
recorded readings), ``readings`` turns them into the units people read, ``monitor`` is
:class:`GPUMonitor` (a polling thread with history and alerts), ``pinning`` turns
``--gpus`` into per-worker device sets, and ``worker_plugin`` makes every Dask worker report
its GPUs with its heartbeats. The cluster-wide view, the head's GPU service and the
``pycluster gpu`` table are built on this layer in :mod:`pycluster.monitor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .monitor import GPUMonitor
    from .reader import GPUReader, NvmlReader, RecordedReader

__all__ = ["GPUMonitor", "GPUReader", "NvmlReader", "RecordedReader"]

# imported on first use: a worker process needs only ``pinning`` (its CUDA_VISIBLE_DEVICES)
_EXPORTS = {
    "GPUMonitor": ".monitor",
    "GPUReader": ".reader",
    "NvmlReader": ".reader",
    "RecordedReader": ".reader",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pycluster.gpu' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
