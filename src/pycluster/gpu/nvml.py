"""This process's NVML session: nvidia-ml-py imported lazily, started once, and a state saying why not.

Both the GPU monitor and GPU-aware workers ask here, so a machine without NVIDIA GPUs
pays for one failed attempt per process (one ``dlopen``), never one per poll: like
``distributed.diagnostics.nvml``, the outcome is cached per process id.

>>> status = nvml_status()
>>> status.available == (status.state is NVMLState.READY)
True
>>> status.available or bool(status.reason)
True
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..errors import GPUUnavailableError

__all__ = ["LIBRARY_MISSING_REASON", "NVMLState", "NVMLStatus", "nvml_module", "nvml_status"]

LIBRARY_MISSING_REASON = 'nvidia-ml-py not installed: pip install "pycluster[gpu]"'

# NVML errors that mean "there is no usable NVIDIA driver on this machine"
_DRIVER_MISSING_CODES = {9, 12}  # NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND


class NVMLState(str, Enum):
    """Why GPUs can (or cannot) be read in this process."""

    READY = "ready"
    LIBRARY_MISSING = "library_missing"  # the nvidia-ml-py package is not installed
    DRIVER_MISSING = "driver_missing"  # no libnvidia-ml / nvml.dll, or the kernel driver is not loaded
    NO_GPUS = "no_gpus"  # the driver runs but sees no GPU
    FAILED = "failed"  # NVML answered with another error (version mismatch, permissions, ...)


@dataclass(frozen=True)
class NVMLStatus:
    state: NVMLState
    reason: str | None = None
    count: int = 0
    driver_version: str | None = None
    cuda_driver_version: str | None = None

    @property
    def available(self) -> bool:
        return self.state is NVMLState.READY


_lock = threading.Lock()
_session: tuple[int, NVMLStatus, Any] | None = None  # (pid, status, pynvml module when ready)


def nvml_status() -> NVMLStatus:
    """The NVML state of this process (started on first call; never raises)."""
    return _current()[0]


def nvml_module() -> Any:
    """The started ``pynvml`` module, or :class:`GPUUnavailableError` saying why there is none."""
    status, module = _current()
    if module is None:
        raise GPUUnavailableError(f"no NVIDIA GPU can be read: {status.reason}", status.reason)
    return module


def _current() -> tuple[NVMLStatus, Any]:
    global _session
    with _lock:
        # a forked child must start NVML itself: handles do not survive fork
        if _session is None or _session[0] != os.getpid():
            _session = (os.getpid(), *_start())
        return _session[1], _session[2]


def _start() -> tuple[NVMLStatus, Any]:
    try:
        pynvml = importlib.import_module("pynvml")
    except ImportError:
        return NVMLStatus(NVMLState.LIBRARY_MISSING, LIBRARY_MISSING_REASON), None
    try:
        pynvml.nvmlInit()
        count = int(pynvml.nvmlDeviceGetCount())
    except pynvml.NVMLError as exc:
        return _failure(exc), None
    driver, cuda = _versions(pynvml)
    if count == 0:
        reason = f"the NVIDIA driver {driver or ''} is loaded but sees no GPU".replace("  ", " ")
        return NVMLStatus(NVMLState.NO_GPUS, reason, 0, driver, cuda), None
    return NVMLStatus(NVMLState.READY, None, count, driver, cuda), pynvml


def _failure(exc: Exception) -> NVMLStatus:
    if getattr(exc, "value", None) in _DRIVER_MISSING_CODES:
        reason = f"NVIDIA driver not found ({exc}): install the NVIDIA driver (nvidia-smi must work)"
        return NVMLStatus(NVMLState.DRIVER_MISSING, reason)
    return NVMLStatus(NVMLState.FAILED, f"NVML could not start: {exc}")


def _versions(pynvml: Any) -> tuple[str | None, str | None]:
    driver = cuda = None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        version = int(pynvml.nvmlSystemGetCudaDriverVersion())  # e.g. 12040
        cuda = f"{version // 1000}.{version % 1000 // 10}"
    except pynvml.NVMLError:
        pass  # old drivers lack the CUDA query; the versions are only shown
    return driver, cuda


def _text(value: Any) -> str:
    # nvidia-ml-py answered bytes before 11.515, str since
    return value.decode() if isinstance(value, bytes) else str(value)
