"""Where GPU readings come from: NVML on this machine, or readings recorded earlier.

A reader answers ``open()`` (an :class:`~pycluster.gpu.nvml.NVMLStatus`: can GPUs be read, and
if not, why) and ``read()`` (one *raw reading* per GPU, in NVML's own units). The raw
reading's keys:

====================  =====================================================================
index, name, uuid     NVML index, product name, ``GPU-...`` id; ``pci_bus_id``
memory_total/used/free  bytes
utilization_gpu       % of time a kernel ran; ``utilization_memory``: % of time memory was read/written
temperature           degrees C (GPU die)
power_usage/limit     milliwatts (enforced limit)
fan_speed             % (None on passively cooled cards)
clock_sm/memory/graphics  MHz
performance_state     0 (P0, fastest) .. 15
throttle_reasons      bit mask of ``nvmlClocksThrottleReason*``
ecc_corrected/uncorrected  volatile ECC error counts (None where the card has no ECC)
processes             ``[{"pid", "name", "used_memory" (bytes or None), "type"}]``
====================  =====================================================================

Any field may be None: a card that does not support it (``NVMLError_NotSupported``) or
one that failed this time. Recorded readings (:class:`RecordedReader`) replay the same
dicts, so everything above the reader is tested without a GPU.

>>> reader = RecordedReader([[{"index": 0, "name": "demo", "temperature": 40}]])
>>> reader.open().available, reader.read()[0]["temperature"]
(True, 40)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError
from .nvml import NVMLState, NVMLStatus, nvml_module, nvml_status

__all__ = ["RECORDING_ENV", "GPUReader", "NvmlReader", "RecordedReader", "machine_reader", "record_readings"]

Reading = dict[str, Any]

# a JSON-lines file of raw readings (what record_readings writes) that a worker replays instead
# of asking NVML: tests and demos of the GPU views on machines without a GPU
RECORDING_ENV = "PYCLUSTER_GPU_RECORDING"


class GPUReader(Protocol):
    """What :class:`~pycluster.gpu.GPUMonitor` reads from."""

    def open(self) -> NVMLStatus: ...

    def read(self) -> list[Reading]: ...

    def close(self) -> None: ...


class RecordedReader:
    """Replays recorded raw readings: one list (one reading per GPU) per ``read()``; the last repeats.

    ``status`` says what ``open()`` answers (by default: available, with as many GPUs as
    the first snapshot); pass an unavailable one to replay a machine without GPUs.
    """

    def __init__(self, snapshots: Iterable[list[Reading]], status: NVMLStatus | None = None) -> None:
        self._snapshots = [list(s) for s in snapshots]
        self._next = 0
        count = len(self._snapshots[0]) if self._snapshots else 0
        self.status = status or NVMLStatus(NVMLState.READY, count=count, driver_version="recorded")

    @classmethod
    def from_jsonl(cls, path: str | Path, status: NVMLStatus | None = None) -> RecordedReader:
        """Snapshots from a file with one JSON list of raw readings per line."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls((json.loads(line) for line in lines if line.strip()), status)

    def open(self) -> NVMLStatus:
        return self.status

    def read(self) -> list[Reading]:
        if not self.status.available or not self._snapshots:
            return []
        snapshot = self._snapshots[min(self._next, len(self._snapshots) - 1)]
        self._next += 1
        return [dict(r) for r in snapshot]

    def close(self) -> None:
        pass


def record_readings(path: str | Path, count: int = 10, interval: float = 1.0) -> int:
    """Write ``count`` snapshots of this machine's GPUs to ``path`` (JSON lines) for RecordedReader.

    Returns how many were written (0 where no GPU can be read).
    """
    import time

    reader = NvmlReader()
    if not reader.open().available:
        return 0
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps(reader.read()) + "\n")
            if i + 1 < count:
                time.sleep(interval)
    return count


def machine_reader(devices: Sequence[int | str] | None = None, env: str | None = None) -> GPUReader:
    """This machine's reader: the recording ``PYCLUSTER_GPU_RECORDING`` names, else NVML.

    The recording replaces only where readings come from; the monitor turns them into
    statuses, history and alerts exactly as it does NVML's. A recording that cannot be read
    is an error, not a silent fall back to NVML: whoever set the variable expects it replayed.
    """
    path = os.environ.get(RECORDING_ENV) if env is None else env
    if path and path.strip():
        try:
            return RecordedReader.from_jsonl(path.strip())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{RECORDING_ENV}={path!r}: not a recording of GPU readings ({exc})") from exc
    return NvmlReader(devices)


class NvmlReader:
    """Reads every field of this machine's GPUs (or of ``devices``: indices or ``GPU-`` uuids)."""

    def __init__(self, devices: Sequence[int | str] | None = None) -> None:
        self._wanted = None if devices is None else list(devices)
        self._devices: list[_Device] = []

    def open(self) -> NVMLStatus:
        status = nvml_status()
        if status.available:
            nvml = nvml_module()
            self._devices = [_Device(nvml, h) for h in _handles(nvml, status.count, self._wanted)]
        return status

    def read(self) -> list[Reading]:
        return [device.read() for device in self._devices]

    def close(self) -> None:
        self._devices = []  # NVML itself stays up: it is shared by the whole process


def _handles(nvml: Any, count: int, wanted: list[int | str] | None) -> list[Any]:
    if wanted is None:
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    handles = []
    for device in wanted:
        try:
            if isinstance(device, int):
                handles.append(nvml.nvmlDeviceGetHandleByIndex(device))
            else:
                handles.append(nvml.nvmlDeviceGetHandleByUUID(device))
        except nvml.NVMLError:
            continue  # a device that went away is simply not read
    return handles


# NVML answers these when a card lacks a feature: asking again each poll would only cost time
_PERMANENT_ERRORS = {3, 13}  # NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND


class _Device:
    """One GPU: its fixed identity read once, the rest read per poll, field by field."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml = nvml
        self.handle = handle
        self.unsupported: set[str] = set()
        self.identity = {
            "index": self._get("index", nvml.nvmlDeviceGetIndex),
            "name": _text(self._get("name", nvml.nvmlDeviceGetName)),
            "uuid": _text(self._get("uuid", nvml.nvmlDeviceGetUUID)),
            "pci_bus_id": _text(getattr(self._get("pci", nvml.nvmlDeviceGetPciInfo), "busId", None)),
        }
        self.fields = _field_readers(nvml)
        self._names: dict[int, str | None] = {}

    def _get(self, field: str, read: Callable[[Any], Any]) -> Any:
        if field in self.unsupported:
            return None
        try:
            return read(self.handle)
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) in _PERMANENT_ERRORS:
                self.unsupported.add(field)
            return None

    def read(self) -> Reading:
        values = {field: self._get(field, read) for field, read in self.fields.items()}
        memory, utilization = values.pop("memory"), values.pop("utilization")
        processes = _merge_processes(values.pop("compute_processes"), values.pop("graphics_processes"))
        return {
            **self.identity,
            "memory_total": getattr(memory, "total", None),
            "memory_used": getattr(memory, "used", None),
            "memory_free": getattr(memory, "free", None),
            "utilization_gpu": getattr(utilization, "gpu", None),
            "utilization_memory": getattr(utilization, "memory", None),
            **values,
            "processes": self._named(processes),
        }

    def _named(self, processes: list[Reading]) -> list[Reading]:
        if len(self._names) > 4096:  # pids are reused: forget old names now and then
            self._names.clear()
        for p in processes:
            if p["pid"] not in self._names:
                self._names[p["pid"]] = _process_name(p["pid"])
            p["name"] = self._names[p["pid"]]
        return processes


def _field_readers(nvml: Any) -> dict[str, Callable[[Any], Any]]:
    n = nvml
    throttle = (
        getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None)
        or n.nvmlDeviceGetCurrentClocksThrottleReasons
    )

    def ecc(kind: int) -> Callable[[Any], Any]:
        return lambda h: n.nvmlDeviceGetTotalEccErrors(h, kind, n.NVML_VOLATILE_ECC)

    def clock(kind: int) -> Callable[[Any], Any]:
        return lambda h: n.nvmlDeviceGetClockInfo(h, kind)

    return {
        "memory": n.nvmlDeviceGetMemoryInfo,
        "utilization": n.nvmlDeviceGetUtilizationRates,
        "temperature": lambda h: n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU),
        "power_usage": n.nvmlDeviceGetPowerUsage,
        "power_limit": n.nvmlDeviceGetEnforcedPowerLimit,
        "fan_speed": n.nvmlDeviceGetFanSpeed,
        "clock_sm": clock(n.NVML_CLOCK_SM),
        "clock_memory": clock(n.NVML_CLOCK_MEM),
        "clock_graphics": clock(n.NVML_CLOCK_GRAPHICS),
        "performance_state": n.nvmlDeviceGetPerformanceState,
        "throttle_reasons": throttle,
        "ecc_corrected": ecc(n.NVML_MEMORY_ERROR_TYPE_CORRECTED),
        "ecc_uncorrected": ecc(n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        "compute_processes": n.nvmlDeviceGetComputeRunningProcesses,
        "graphics_processes": n.nvmlDeviceGetGraphicsRunningProcesses,
    }


def _merge_processes(compute: Any, graphics: Any) -> list[Reading]:
    found: dict[int, Reading] = {}
    for kind, items in (("compute", compute or []), ("graphics", graphics or [])):
        for item in items:
            pid = int(item.pid)
            if pid in found:
                found[pid]["type"] = "compute+graphics"
            else:
                found[pid] = {"pid": pid, "used_memory": item.usedGpuMemory, "type": kind}
    return list(found.values())


def _process_name(pid: int) -> str | None:
    import psutil

    try:
        return str(psutil.Process(pid).name())
    except psutil.Error:
        return None  # another container's process, or it just ended


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
