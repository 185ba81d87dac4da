"""Per-GPU Prometheus gauges for ``GET /metrics``, labelled host, gpu (index), uuid and name.

Only values the card reports are written: a fan-less card has no ``pycluster_gpu_fan_speed_percent``.

>>> view = {"hosts": [{"host": "10.0.0.5", "count": 1}], "gpus": [{"host": "10.0.0.5", "id": 0,
...         "uuid": "GPU-1", "name": "A100", "utilization": 87, "memory_used_bytes": 1024}]}
>>> [line for line in gpu_metric_lines(view, []) if line.startswith("pycluster_gpu_util")]
['pycluster_gpu_utilization_percent{gpu="0",host="10.0.0.5",name="A100",uuid="GPU-1"} 87.0']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = ["GPUCollector", "gpu_families", "gpu_metric_lines"]

Getter = Callable[[Mapping[str, Any]], Any]
_LABELS = ["host", "gpu", "uuid", "name"]

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
    ("sm_clock_hertz", "SM clock", lambda g: _hertz((g.get("clocks") or {}).get("sm"))),
    ("memory_clock_hertz", "Memory clock", lambda g: _hertz((g.get("clocks") or {}).get("memory"))),
    ("processes", "Processes using the GPU", lambda g: len(g.get("processes") or [])),
    (
        "throttled",
        "1 while power or heat holds the clocks back",
        lambda g: _throttled(g.get("throttle_reasons")),
    ),
]
# counts since the driver loaded: counters (exposed with the _total suffix)
_COUNTERS: list[tuple[str, str, Getter]] = [
    ("ecc_corrected_errors", "Corrected ECC errors since the driver loaded", lambda g: _ecc(g, "corrected")),
    (
        "ecc_uncorrected_errors",
        "Uncorrected ECC errors since the driver loaded",
        lambda g: _ecc(g, "uncorrected"),
    ),
]


def gpu_families(view: Mapping[str, Any], alerts: list[Mapping[str, Any]]) -> Iterator[Metric]:
    """The metric families for the cluster GPU ``view`` and the active ``alerts``."""
    hosts = GaugeMetricFamily("pycluster_gpus", "GPUs each worker host reports", labels=["host"])
    for h in view.get("hosts", []):
        hosts.add_metric([_text(h["host"])], h["count"])
    yield hosts
    gpus = view.get("gpus", [])
    for kind, table in ((GaugeMetricFamily, _GAUGES), (CounterMetricFamily, _COUNTERS)):
        for suffix, help_text, read in table:
            present = [(g, value) for g in gpus if (value := read(g)) is not None]
            if present:  # no GPU reports it: leave the metric out rather than print an empty family
                family = kind(f"pycluster_gpu_{suffix}", help_text, labels=_LABELS)
                for g, value in present:
                    family.add_metric(_label_values(g), value)
                yield family
    levels = GaugeMetricFamily("pycluster_gpu_alerts", "Active GPU alerts", labels=["level"])
    for lv in ("warning", "critical"):
        levels.add_metric([lv], sum(a.get("level") == lv for a in alerts))
    yield levels


class GPUCollector:
    """A prometheus_client collector over a GPU view read before the scrape."""

    def __init__(self, view: Mapping[str, Any], alerts: list[Mapping[str, Any]]) -> None:
        self.view, self.alerts = view, alerts

    def collect(self) -> Iterator[Metric]:
        return gpu_families(self.view, self.alerts)


def gpu_metric_lines(view: Mapping[str, Any], alerts: list[Mapping[str, Any]]) -> list[str]:
    """The exposition text of :func:`gpu_families`, as lines."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GPUCollector(view, alerts))
    return generate_latest(registry).decode().splitlines()


def _label_values(gpu: Mapping[str, Any]) -> list[str]:
    return [_text(gpu.get("host")), _text(gpu.get("id")), _text(gpu.get("uuid")), _text(gpu.get("name"))]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _hertz(mhz: Any) -> float | None:
    return None if mhz is None else float(mhz) * 1_000_000


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
