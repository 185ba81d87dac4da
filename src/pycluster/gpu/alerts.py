"""GPU alerts: raised when a GPU crosses a threshold of pycluster.yaml, resolved when it is back.

Thresholds (defaults in brackets):

- temperature: warning at ``monitoring.alert_thresholds.gpu_temperature`` [80 C],
  critical at ``gpu.temperature_threshold`` [85 C];
- power: warning at ``gpu.power_limit_threshold`` [0.95] of the card's enforced power limit;
- memory: warning at ``monitoring.alert_thresholds.gpu_memory`` [0.95] of its memory.

An alert is raised once when its condition starts (or its level changes), not on every
poll, and resolves only when the value falls 3% below the threshold, so a GPU hovering
at 80 C does not flap.

>>> tracker = AlertTracker(GPUThresholds())
>>> [a["level"] for a in tracker.update([{"id": 0, "uuid": "GPU-a", "temperature": 86}], now=0.0)]
['critical']
>>> tracker.update([{"id": 0, "uuid": "GPU-a", "temperature": 86}], now=1.0)
[]
>>> tracker.update([{"id": 0, "uuid": "GPU-a", "temperature": 60}], now=2.0), tracker.active()
([], [])
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .readings import iso_time

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["HYSTERESIS", "AlertTracker", "GPUThresholds"]

HYSTERESIS = 0.03  # an alert resolves 3% below its threshold
logger = logging.getLogger(__name__)

Alert = dict[str, Any]


@dataclass(frozen=True)
class GPUThresholds:
    temperature_warning: float = 80.0
    temperature_critical: float = 85.0
    power_fraction: float = 0.95
    memory_fraction: float = 0.95

    @classmethod
    def from_settings(cls, settings: Settings) -> GPUThresholds:
        alerts = settings.monitoring.alert_thresholds
        return cls(
            temperature_warning=float(alerts.get("gpu_temperature", cls.temperature_warning)),
            temperature_critical=float(settings.gpu.temperature_threshold),
            power_fraction=float(settings.gpu.power_limit_threshold),
            memory_fraction=float(alerts.get("gpu_memory", cls.memory_fraction)),
        )

    def levels(self, kind: str) -> list[tuple[str, float, str]]:
        """(level, threshold, setting) for ``kind``, highest level first."""
        if kind == "temperature":
            return [
                ("critical", self.temperature_critical, "gpu.temperature_threshold"),
                ("warning", self.temperature_warning, "monitoring.alert_thresholds.gpu_temperature"),
            ]
        if kind == "power":
            return [("warning", self.power_fraction, "gpu.power_limit_threshold")]
        return [("warning", self.memory_fraction, "monitoring.alert_thresholds.gpu_memory")]


class AlertTracker:
    """Keeps the active alerts per (host, GPU, kind) and the recent ones (raised and resolved)."""

    def __init__(
        self,
        thresholds: GPUThresholds,
        on_alert: Callable[[Alert], Any] | None = None,
        keep: int = 500,
        log: bool = True,
    ) -> None:
        self.thresholds = thresholds
        self.on_alert = on_alert
        self.log = log
        self._active: dict[tuple[Any, Any, str], Alert] = {}
        self.recent: deque[Alert] = deque(maxlen=keep)
        self._ids = itertools.count(1)

    def active(self) -> list[Alert]:
        return list(self._active.values())

    def update(self, gpus: Iterable[Mapping[str, Any]], now: float) -> list[Alert]:
        """Check every GPU of one poll; the alerts raised by it (logged and passed to ``on_alert``)."""
        raised = []
        seen = set()
        for gpu in gpus:
            for kind, value in _measures(gpu).items():
                key = (gpu.get("host"), gpu.get("uuid") or gpu.get("id"), kind)
                seen.add(key)
                alert = self._check(key, gpu, kind, value, now)
                if alert is not None:
                    raised.append(alert)
        for key in [k for k in self._active if k not in seen]:  # the GPU or its reading went away
            self._resolve(key, now)
        for alert in raised:
            self._announce(alert)
        return raised

    def _check(
        self, key: tuple[Any, Any, str], gpu: Mapping[str, Any], kind: str, value: float | None, now: float
    ) -> Alert | None:
        current = self._active.get(key)
        level = self._level(kind, value, current["level"] if current else None)
        if level is None:
            if current is not None:
                self._resolve(key, now)
            return None
        if current is not None and current["level"] == level[0]:
            current["value"] = value
            current["peak"] = max(current["peak"], value or 0.0)
            return None
        if current is not None:
            self._resolve(key, now)
        alert = self._new_alert(gpu, kind, value or 0.0, level, now)
        self._active[key] = alert
        self.recent.append(alert)
        return alert

    def _level(self, kind: str, value: float | None, active: str | None) -> tuple[str, float, str] | None:
        if value is None:
            return None
        levels = self.thresholds.levels(kind)
        names = [name for name, _, _ in levels]
        held = names.index(active) if active in names else len(names)
        for rank, (level, threshold, setting) in enumerate(levels):
            # the raised level (and those below it) hold until the value is HYSTERESIS below
            # their threshold: a GPU cooling from critical to 79 C stays at "warning"
            limit = threshold * (1 - HYSTERESIS) if rank >= held else threshold
            if value >= limit:
                return level, threshold, setting
        return None

    def _resolve(self, key: tuple[Any, Any, str], now: float) -> None:
        alert = self._active.pop(key)
        alert["active"] = False
        alert["resolved_at"] = iso_time(now)

    def _new_alert(
        self, gpu: Mapping[str, Any], kind: str, value: float, level: tuple[str, float, str], now: float
    ) -> Alert:
        name, threshold, setting = level
        return {
            "id": next(self._ids),
            "kind": kind,
            "level": name,
            "host": gpu.get("host"),
            "gpu": gpu.get("id"),
            "uuid": gpu.get("uuid"),
            "name": gpu.get("name"),
            "value": value,
            "peak": value,
            "threshold": threshold,
            "setting": setting,
            "message": _message(gpu, kind, value, name, threshold, setting),
            "raised_at": iso_time(now),
            "time": round(now, 3),
            "resolved_at": None,
            "active": True,
        }

    def _announce(self, alert: Alert) -> None:
        if self.log:
            logger.warning("GPU alert: %s", alert["message"])
        if self.on_alert is not None:
            try:
                self.on_alert(dict(alert))  # a snapshot: the active alert keeps changing
            except Exception:  # a user's callback must not stop the monitor
                logger.exception("the on_alert callback failed")


def _measures(gpu: Mapping[str, Any]) -> dict[str, float | None]:
    power, limit = gpu.get("power_usage"), gpu.get("power_limit")
    used, total = gpu.get("memory_used_bytes"), gpu.get("memory_total_bytes")
    return {
        "temperature": gpu.get("temperature"),
        "power": round(power / limit, 4) if power is not None and limit else None,
        "memory": round(used / total, 4) if used is not None and total else None,
    }


def _message(
    gpu: Mapping[str, Any], kind: str, value: float, level: str, threshold: float, setting: str
) -> str:
    where = f"GPU {gpu.get('id')} ({gpu.get('name') or 'unknown'})"
    if gpu.get("host"):
        where += f" on {gpu['host']}"
    if kind == "temperature":
        what = f"is at {value:g} C (threshold {threshold:g} C"
    elif kind == "power":
        what = f"draws {value:.0%} of its power limit (threshold {threshold:.0%}"
    else:
        what = f"uses {value:.0%} of its memory (threshold {threshold:.0%}"
    return f"{level}: {where} {what}, {setting})"
