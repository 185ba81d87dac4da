"""Raw NVML readings in the units people read: GB, watts, names of throttle reasons.

:func:`gpu_status` makes one GPU's entry of ``GET /api/llm/gpu/status`` (the PyCluster v2
document's ``id``, ``name``, ``memory_total``, ``memory_used``, ``utilization``,
``temperature``, ``power_usage``, and more); :func:`history_sample` makes one compact
point of ``recent_metrics``. "GB" here is 2**30 bytes, as ``nvidia-smi``'s MiB / 1024.

>>> entry = gpu_status({"index": 0, "name": "demo", "memory_total": 2**31, "memory_used": 2**30,
...                     "power_usage": 250500, "throttle_reasons": 0x4})
>>> entry["memory_total"], entry["memory_percent"], entry["power_usage"], entry["throttle_reasons"]
(2.0, 50.0, 250.5, ['sw_power_cap'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["THROTTLE_REASONS", "gpu_status", "history_sample", "iso_time"]

GB = 2**30

# nvmlClocksThrottleReason* bits (NVML calls them "clocks event reasons" since 12.2)
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}

# the fields a history point keeps (a full entry per GPU per second would be heavy for an hour)
_HISTORY_FIELDS = (
    "id",
    "uuid",
    "host",
    "utilization",
    "memory_utilization",
    "memory_used",
    "memory_total",
    "memory_percent",
    "temperature",
    "power_usage",
    "power_limit",
)


def gpu_status(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One GPU's public entry from a raw reading; a missing field stays None."""
    total, used, free = (raw.get(f"memory_{k}") for k in ("total", "used", "free"))
    power, limit = _watts(raw.get("power_usage")), _watts(raw.get("power_limit"))
    return {
        "id": raw.get("index"),
        "name": raw.get("name"),
        "uuid": raw.get("uuid"),
        "pci_bus_id": raw.get("pci_bus_id"),
        "memory_total": _gb(total),
        "memory_used": _gb(used),
        "memory_free": _gb(free),
        "memory_total_bytes": total,
        "memory_used_bytes": used,
        "memory_free_bytes": free,
        "memory_percent": _percent(used, total),
        "utilization": raw.get("utilization_gpu"),
        "memory_utilization": raw.get("utilization_memory"),
        "temperature": raw.get("temperature"),
        "power_usage": power,
        "power_limit": limit,
        "power_percent": _percent(power, limit),
        "fan_speed": raw.get("fan_speed"),
        "clocks": {k: raw.get(f"clock_{k}") for k in ("sm", "memory", "graphics")},
        "performance_state": _pstate(raw.get("performance_state")),
        "throttle_reasons": _throttle_names(raw.get("throttle_reasons")),
        "ecc_errors": _ecc(raw.get("ecc_corrected"), raw.get("ecc_uncorrected")),
        "processes": [_process(p) for p in raw.get("processes") or []],
    }


def history_sample(gpus: Iterable[Mapping[str, Any]], now: float) -> dict[str, Any]:
    """One point of ``recent_metrics``: per-GPU essentials plus cluster-wide totals."""
    points = [{k: g[k] for k in _HISTORY_FIELDS if k in g} for g in gpus]
    utilization = [p["utilization"] for p in points if p.get("utilization") is not None]
    temperatures = [p["temperature"] for p in points if p.get("temperature") is not None]
    return {
        "timestamp": iso_time(now),
        "time": round(now, 3),
        "count": len(points),
        "avg_utilization": round(sum(utilization) / len(utilization), 1) if utilization else None,
        "memory_used": round(sum(p.get("memory_used") or 0.0 for p in points), 2),
        "memory_total": round(sum(p.get("memory_total") or 0.0 for p in points), 2),
        "max_temperature": max(temperatures) if temperatures else None,
        "power_usage": round(sum(p.get("power_usage") or 0.0 for p in points), 1),
        "gpus": points,
    }


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def _gb(value: int | None) -> float | None:
    return None if value is None else round(value / GB, 2)


def _watts(milliwatts: int | None) -> float | None:
    return None if milliwatts is None else round(milliwatts / 1000.0, 1)


def _percent(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def _pstate(value: int | None) -> str | None:
    # NVML says 32 (NVML_PSTATE_UNKNOWN) when it cannot tell
    return None if value is None or not 0 <= value <= 15 else f"P{value}"


def _throttle_names(mask: int | None) -> list[str] | None:
    if mask is None:
        return None
    bits = [1 << i for i in range(64) if mask & (1 << i)]
    return [THROTTLE_REASONS.get(bit, f"0x{bit:x}") for bit in bits]


def _ecc(corrected: int | None, uncorrected: int | None) -> dict[str, int] | None:
    if corrected is None and uncorrected is None:
        return None  # a card without ECC (most GeForce cards), or ECC turned off
    return {"corrected": corrected or 0, "uncorrected": uncorrected or 0}


def _process(raw: Mapping[str, Any]) -> dict[str, Any]:
    used = raw.get("used_memory")
    return {
        "pid": raw.get("pid"),
        "name": raw.get("name"),
        "type": raw.get("type"),
        "memory_used": _gb(used),
        "memory_used_bytes": used,
    }
