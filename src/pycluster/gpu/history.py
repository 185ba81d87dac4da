"""A history of samples kept for ``monitoring.metrics_retention`` seconds (thread-safe).

>>> history = GPUHistory(retention=10)
>>> for t in range(15):
...     history.append({"time": float(t)}, now=float(t))
>>> [s["time"] for s in history.since(3, now=14.0)]
[11.0, 12.0, 13.0, 14.0]
>>> len(history)
11
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

__all__ = ["GPUHistory"]

MAX_SAMPLES = 100_000  # a bound even when someone polls far faster than the retention assumes


class GPUHistory:
    def __init__(self, retention: float) -> None:
        self.retention = max(0.0, float(retention))
        self._samples: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        self._lock = threading.Lock()

    def append(self, sample: dict[str, Any], now: float) -> None:
        with self._lock:
            self._samples.append(sample)
            while self._samples and self._samples[0]["time"] < now - self.retention:
                self._samples.popleft()

    def since(self, seconds: float, now: float) -> list[dict[str, Any]]:
        """Samples of the last ``seconds`` seconds, oldest first."""
        with self._lock:
            return [s for s in self._samples if s["time"] >= now - seconds]

    def latest(self, n: int) -> list[dict[str, Any]]:
        """The last ``n`` samples, oldest first."""
        with self._lock:
            return list(self._samples)[-n:] if n > 0 else []

    def __len__(self) -> int:
        return len(self._samples)
