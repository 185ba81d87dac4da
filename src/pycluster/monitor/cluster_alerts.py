"""Alerts on cluster metrics: CPU and memory thresholds, workers lost, tasks failed.

Rules fire on the edge (when a value crosses its threshold), not on every sample
above it, so a busy cluster makes one alert and one "back to normal", not hundreds.
Failed tasks aggregate: a burst of failures (no quiet gap of ``burst_gap`` seconds) is one
alert whose ``count`` grows, not one alert per sample that saw a failure.

>>> alerts = ClusterAlerts({"cluster_cpu": 0.5})
>>> [a["rule"] for a in alerts.observe({"cpu_percent": 80.0, "n_workers": 2})]
['cluster_cpu']
>>> alerts.observe({"cpu_percent": 90.0, "n_workers": 2})
[]
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["THRESHOLD_RULES", "ClusterAlerts"]

# rule -> (sample field in percent, what it measures); thresholds are fractions like the settings'
THRESHOLD_RULES: dict[str, tuple[str, str]] = {
    "cluster_cpu": ("cpu_percent", "cluster CPU"),
    "cluster_memory": ("memory_usage_percent", "cluster memory"),
}
DEFAULTS = {"cluster_cpu": 0.90, "cluster_memory": 0.90}
BURST_GAP = 60.0  # seconds without a failure that end a burst; the next failure opens a new alert


class ClusterAlerts:
    """Watches metric samples; keeps the most recent alerts and which rules are firing now."""

    def __init__(
        self, thresholds: Mapping[str, float] | None = None, keep: int = 100, burst_gap: float = BURST_GAP
    ) -> None:
        given = dict(thresholds or {})
        self.thresholds = {rule: float(given.get(rule, default)) for rule, default in DEFAULTS.items()}
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.active: set[str] = set()
        self._previous: dict[str, Any] | None = None
        self._ids = itertools.count(1)
        self.burst_gap = burst_gap
        self._burst: dict[str, Any] | None = None  # the failure alert still counting
        self._burst_seen = 0.0  # monotonic time of its latest failure

    def set_thresholds(self, values: Mapping[str, float]) -> dict[str, float]:
        """Change thresholds (fractions from 0 to 1); ValueError names a bad rule or value."""
        for rule, value in values.items():
            if rule not in THRESHOLD_RULES:
                raise ValueError(f"unknown alert rule {rule!r}; known: {', '.join(THRESHOLD_RULES)}")
            if isinstance(value, bool) or not 0 < float(value) <= 1:
                raise ValueError(f"{rule} must be a fraction above 0 and at most 1, got {value!r}")
        self.thresholds.update({rule: float(v) for rule, v in values.items()})
        self.active.clear()  # re-evaluate every rule against the new thresholds
        return dict(self.thresholds)

    def observe(self, sample: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Check one sample; returns (and keeps) the alerts it raised."""
        new = [*self._threshold_alerts(sample), *self._change_alerts(sample)]
        self._previous = dict(sample)
        self.recent.extend(new)
        return new

    def _threshold_alerts(self, sample: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = []
        for rule, (field, label) in THRESHOLD_RULES.items():
            if sample.get(field) is None:
                continue
            value = float(sample[field]) / 100.0
            limit = self.thresholds[rule]
            if value >= limit and rule not in self.active:
                self.active.add(rule)
                text = f"{label} at {value:.0%}, at or above the {limit:.0%} threshold"
                found.append(self._alert(rule, "warning", text, value, limit))
            elif value < limit and rule in self.active:
                self.active.discard(rule)
                text = f"{label} back to {value:.0%}, below the {limit:.0%} threshold"
                found.append(self._alert(rule, "resolved", text, value, limit))
        return found

    def _change_alerts(self, sample: Mapping[str, Any]) -> list[dict[str, Any]]:
        before = self._previous
        if before is None:
            return []
        found = []
        was, now = int(before.get("n_workers") or 0), int(sample.get("n_workers") or 0)
        if now < was:
            found.append(self._alert("workers", "warning", f"workers dropped from {was} to {now}", now, was))
        elif now > was:
            found.append(self._alert("workers", "info", f"workers grew from {was} to {now}", now, was))
        failed = int(sample.get("tasks_failed_total") or 0) - int(before.get("tasks_failed_total") or 0)
        if failed > 0:
            alert = self._failure_burst(failed)
            if alert is not None:
                found.append(alert)
        return found

    def _failure_burst(self, failed: int) -> dict[str, Any] | None:
        """A new alert for the first failures of a burst; later ones add to its count (None)."""
        now = time.monotonic()
        burst = self._burst
        if burst is not None and now - self._burst_seen <= self.burst_gap and burst in self.recent:
            self._burst_seen = now
            burst["count"] += failed
            burst["value"] = burst["count"]
            burst["message"] = _failures_text(burst["count"], burst["since"])
            burst["time"] = _stamp()
            self.recent.remove(burst)  # the newest again: it changed
            self.recent.append(burst)
            return None
        alert = self._alert("task_failures", "warning", _failures_text(failed, None), failed, 0)
        alert["count"] = failed
        alert["since"] = alert["time"]
        self._burst, self._burst_seen = alert, now
        return alert

    def _alert(self, rule: str, level: str, message: str, value: float, threshold: float) -> dict[str, Any]:
        return {
            "id": next(self._ids),
            "time": _stamp(),
            "rule": rule,
            "level": level,
            "message": message,
            "value": round(float(value), 4),
            "threshold": round(float(threshold), 4),
        }

    def as_dict(self, limit: int = 50) -> dict[str, Any]:
        """Thresholds, the rules firing now, and the newest ``limit`` alerts (newest first)."""
        return {
            "thresholds": dict(self.thresholds),
            "active": sorted(self.active),
            "recent": [dict(a) for a in reversed(list(self.recent)[-limit:])],  # copies: bursts change
        }


def _stamp() -> str:
    return datetime.fromtimestamp(time.time(), timezone.utc).isoformat().replace("+00:00", "Z")


def _failures_text(count: int, since: str | None) -> str:
    text = f"{count} task{'s' if count > 1 else ''} failed"
    return f"{text} since {since[11:19]} UTC" if since else text
