"""Per-deployment request metrics over a sliding window: requests/s, tokens/s, latency percentiles."""

from __future__ import annotations

import threading
import time
from collections import deque

from .results import LatencyPercentiles, RequestStats

__all__ = ["RequestMetrics"]


class RequestMetrics:
    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.total_requests = 0
        self.total_tokens = 0
        self._samples: deque[tuple[float, int, float]] = deque()
        self._lock = threading.Lock()

    def record(self, tokens: int, latency_ms: float) -> None:
        with self._lock:
            self.total_requests += 1
            self.total_tokens += tokens
            self._samples.append((time.monotonic(), tokens, latency_ms))

    def summary(self) -> RequestStats:
        now = time.monotonic()
        with self._lock:
            while self._samples and self._samples[0][0] < now - self.window:
                self._samples.popleft()
            samples = list(self._samples)
        span = min(self.window, max(1.0, now - samples[0][0])) if samples else self.window
        latencies = sorted(s[2] for s in samples)
        return RequestStats(
            total_requests=self.total_requests,
            total_tokens=self.total_tokens,
            requests_per_second=round(len(samples) / span, 3),
            tokens_per_second=round(sum(s[1] for s in samples) / span, 3),
            latency_ms=LatencyPercentiles(*(_percentile(latencies, p) for p in (50, 95, 99))),
        )


def _percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 2)
