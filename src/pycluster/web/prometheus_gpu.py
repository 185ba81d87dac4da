"""Per-GPU Prometheus gauges for ``GET /metrics``, labelled host, gpu (index), uuid and name.

Only values the card reports are written: a fan-less card has no ``pycluster_gpu_fan_speed_percent``.

>>> view = {"hosts": [{"host": "10.0.0.5", "count": 1}], "gpus": [{"host": "10.0.0.5", "id": 0,
...         "uuid": "GPU-1", "name": "A100", "utilization": 87, "memory_used_bytes": 1024}]}
>>> [line for line in gpu_metric_lines(view, []) if line.startswith("pycluster_gpu_util")]
['pycluster_gpu_utilization_percent{host="10.0.0.5",gpu="0",uuid="GPU-1",name="A100"} 87']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["gpu_metric_lines"]

Getter = Callable[[Mapping[str, Any]], Any]

# (metric, help, how to read it from a GPU entry of the cluster view)
_GAUGES: list[tuple[str, str, Getter]] = [
    ("utilization_percent", "Percent of time a kernel ran", lambda g: g.get("utilization")),
    (
        "memory_bandwidth_utilization_percent",
        "Percent of time device memory was read or written",
        lambda g: g.get("memory_utilization"),
    ),
    ("memory_used_bytes", "Device memory in use", lambda g: g.get("memory_used_bytes")),
    ("memory_total_bytes", "Device memory in total", lambda g: g.get("memory_total_bytes")),
    ("temperature_celsius", "GPU die temperature", lambda g: g.get("temperature")),
    ("power_watts", "Power draw", lambda g: g.get("power_usage")),
    ("power_limit_watts", "Enforced power limit", lambda g: g.get("power_limit")),
    ("fan_speed_percent", "Fan speed", lambda g: g.get("fan_speed")),
    ("sm_clock_mhz", "SM clock", lambda g: (g.get("clocks") or {}).get("sm")),
    ("memory_clock_mhz", "Memory clock", lambda g: (g.get("clocks") or {}).get("memory")),
    ("processes", "Processes using the GPU", lambda g: len(g.get("processes") or [])),
    (
        "throttled",
        "1 while power or heat holds the clocks back",
        lambda g: _throttled(g.get("throttle_reasons")),
    ),
    ("ecc_corrected_errors", "Corrected ECC errors since the driver loaded", lambda g: _ecc(g, "corrected")),
    (
        "ecc_uncorrected_errors",
        "Uncorrected ECC errors since the driver loaded",
        lambda g: _ecc(g, "uncorrected"),
    ),
]


def gpu_metric_lines(view: Mapping[str, Any], alerts: list[Mapping[str, Any]]) -> list[str]:
    """Prometheus text lines for the cluster GPU ``view`` and the active ``alerts``."""
    lines = _family(
        "pycluster_gpus",
        "GPUs each worker host reports",
        [(f'{{host="{_escape(h["host"])}"}}', h["count"]) for h in view.get("hosts", [])],
    )
    gpus = view.get("gpus", [])
    for suffix, help_text, read in _GAUGES:
        samples = [(_labels(g), read(g)) for g in gpus]
        present = [s for s in samples if s[1] is not None]
        if present:  # no GPU reports it: leave the metric out rather than print an empty family
            lines += _family(f"pycluster_gpu_{suffix}", help_text, present)
    counts = [
        (f'{{level="{lv}"}}', sum(a.get("level") == lv for a in alerts)) for lv in ("warning", "critical")
    ]
    return lines + _family("pycluster_gpu_alerts", "Active GPU alerts", counts)


def _family(name: str, help_text: str, samples: list[tuple[str, Any]]) -> list[str]:
    head = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    return head + [f"{name}{labels} {_number(value)}" for labels, value in samples]


def _number(value: Any) -> str:
    # "%g" would print 42949672960 bytes as 4.29497e+10
    return (
        str(int(value)) if isinstance(value, (bool, int)) or float(value).is_integer() else repr(float(value))
    )


def _labels(gpu: Mapping[str, Any]) -> str:
    pairs = {"host": gpu.get("host"), "gpu": gpu.get("id"), "uuid": gpu.get("uuid"), "name": gpu.get("name")}
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def _escape(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# reasons that slow a busy GPU down (idling, sync boost and clock settings are not a problem)
_SLOWDOWNS = {
    "sw_power_cap",
    "hw_slowdown",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
}


def _throttled(reasons: list[str] | None) -> int | None:
    if reasons is None:
        return None
    return int(bool(_SLOWDOWNS.intersection(reasons)))


def _ecc(gpu: Mapping[str, Any], kind: str) -> int | None:
    errors = gpu.get("ecc_errors")
    return None if errors is None else errors.get(kind)
