"""A text table of GPUs, like nvitop's summary, for ``pycluster gpu``.

>>> view = {"available": False, "count": 0, "reason": "127.0.0.1: NVIDIA driver not found", "hosts": [],
...         "gpus": []}
>>> print(format_gpu_table(view, []))
No NVIDIA GPU: 127.0.0.1: NVIDIA driver not found
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_gpu_table"]

_HEADER = ("HOST", "GPU", "NAME", "UTIL", "MEMORY", "TEMP", "POWER", "FAN", "PROCS", "WORKERS")


def format_gpu_table(view: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]]) -> str:
    """The GPUs of ``view`` (a cluster or one machine), hosts without GPUs, and active alerts."""
    if not view["available"]:
        return f"No NVIDIA GPU: {view['reason']}"
    hosts = view["hosts"]
    lines = [f"{view['count']} GPUs on {len(hosts)} hosts" + _drivers(hosts)]
    rows = [_HEADER, *(_row(g) for g in view["gpus"])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += [f"{h['host']}: no GPU ({h['reason']})" for h in hosts if not h["available"]]
    lines += [f"ALERT {a['message']}" for a in alerts]
    return "\n".join(lines)


def _drivers(hosts: list[Mapping[str, Any]]) -> str:
    versions = sorted(
        {(h["driver_version"], h["cuda_driver_version"]) for h in hosts if h["available"]}, key=str
    )
    if len(versions) != 1:
        return ""
    driver, cuda = versions[0]
    return f"  (driver {driver or '?'}, CUDA {cuda or '?'})"


def _row(gpu: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(gpu.get("hostname") or gpu.get("host") or "-"),
        str(gpu.get("id")),
        str(gpu.get("name") or "-")[:28],
        _unit(gpu.get("utilization"), "%"),
        _memory(gpu),
        _unit(gpu.get("temperature"), "C"),
        _power(gpu),
        _unit(gpu.get("fan_speed"), "%"),
        str(len(gpu.get("processes") or [])),
        ",".join(gpu.get("workers") or []) or "-",
    )


def _unit(value: Any, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _memory(gpu: Mapping[str, Any]) -> str:
    used, total, percent = gpu.get("memory_used"), gpu.get("memory_total"), gpu.get("memory_percent")
    if used is None or total is None:
        return "-"
    return (
        f"{used:.1f}/{total:.1f} GB ({percent:.0f}%)" if percent is not None else f"{used:.1f}/{total:.1f} GB"
    )


def _power(gpu: Mapping[str, Any]) -> str:
    usage, limit = gpu.get("power_usage"), gpu.get("power_limit")
    if usage is None:
        return "-"
    return f"{usage:.0f}/{limit:.0f} W" if limit is not None else f"{usage:.0f} W"
