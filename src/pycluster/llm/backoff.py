"""When the autoscaler may try again to start replicas of a deployment whose replicas fail to load.

Without it a deployment whose model cannot load (a broken folder, a model too big for the
worker) would be retried every upscale delay, or every tick while requests wait, for ever:
each try loads weights for nothing. Each failure in a row doubles the wait, up to ``CAP_S``;
a replica that becomes ready resets it.

>>> backoff = LoadBackoff()
>>> backoff.failed("OSError: no config.json", base=10.0, now=0.0)
>>> backoff.waiting(now=4.0)
'replica failed to load: OSError: no config.json; next try in 6 s'
>>> backoff.failed("OSError: no config.json", base=10.0, now=10.0)
>>> backoff.waiting(now=10.0)
'replica failed to load: OSError: no config.json; next try in 20 s'
>>> backoff.succeeded(); backoff.waiting(now=10.0) is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CAP_S", "MIN_BASE_S", "LoadBackoff"]

CAP_S = 300.0  # the longest wait between tries: a fixed model is picked up within 5 minutes
MIN_BASE_S = 1.0  # the first wait when the deployment's upscale_delay_s is shorter (or 0)


@dataclass
class LoadBackoff:
    failures: int = 0  # replicas that failed to load since the last one that became ready
    error: str | None = None  # the last one's reason
    next_try: float = 0.0  # time.monotonic() before which no new replica is started

    def failed(self, error: str, base: float, now: float) -> None:
        self.failures += 1
        self.error = error.strip().splitlines()[0][:300] if error.strip() else "failed"
        self.next_try = now + self.delay(base)

    def delay(self, base: float) -> float:
        return float(min(CAP_S, max(base, MIN_BASE_S) * 2 ** (self.failures - 1)))

    def succeeded(self) -> None:
        self.failures, self.error, self.next_try = 0, None, 0.0

    def waiting(self, now: float) -> str | None:
        """Why no replica may start now, or None when one may."""
        if not self.failures or now >= self.next_try:
            return None
        return f"replica failed to load: {self.error}; next try in {math.ceil(self.next_try - now)} s"
