"""What this machine has, for planning a cluster: OS, CPUs, memory, GPUs.

>>> info = get_system_info()
>>> info["cpu_count"] >= 1 and info["memory_total"] >= info["memory_available"] > 0
True
"""

from __future__ import annotations

import platform
import socket
import sys
from typing import Any

import psutil

__all__ = ["get_gpus", "get_system_info"]


def get_system_info() -> dict[str, Any]:
    """``platform``, ``platform_release``, ``architecture``, ``python_version``, ``hostname``,
    ``cpu_count`` (logical), ``cpu_count_physical``, ``memory_total`` and ``memory_available``
    (bytes) and ``gpus`` (NVIDIA GPUs when nvidia-ml-py and a driver are present, else [])."""
    memory = psutil.virtual_memory()
    return {
        "platform": platform.system(),
        "platform_release": platform.release(),
        "platform_version": platform.version(),
        "architecture": platform.machine(),
        "python_version": platform.python_version(),
        "python_executable": sys.executable,
        "hostname": socket.gethostname(),
        "cpu_count": psutil.cpu_count(logical=True) or 1,
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_total": memory.total,
        "memory_available": memory.available,
        "gpus": get_gpus(),
    }


def get_gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs seen through NVML: ``index``, ``name``, ``memory_total``; [] when there is no way to ask.

    A cheap best effort for planning; live GPU monitoring is :class:`pycluster.GPUMonitor`'s job.
    """
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: NVML raises its own error types
        return []
    try:
        return [_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:
        return []
    finally:
        pynvml.nvmlShutdown()


def _gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(handle)
    return {
        "index": index,
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "memory_total": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
    }
