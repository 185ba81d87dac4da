"""A one-line text progress bar on stderr (no dependency; redrawn at most 10 times a second).

>>> bar = ProgressBar(4, "map")  # doctest: +SKIP
>>> bar.update(4); bar.close()  # doctest: +SKIP
map [##############################] 4/4 items 100% 0.0s
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]

WIDTH = 30
REDRAW_EVERY = 0.1  # seconds


class ProgressBar:
    """Counts items done out of ``total`` and redraws one line with ``\\r``."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self._stream = stream or sys.stderr
        self._started = time.perf_counter()
        self._drawn_at = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._drawn_at >= REDRAW_EVERY or self.done >= self.total:
            self._draw(now)

    def close(self) -> None:
        self._draw(time.perf_counter())
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        share = self.done / self.total if self.total else 1.0
        filled = int(share * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        elapsed = now - self._started
        self._stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} items {share:4.0%} {elapsed:.1f}s"
        )
        self._stream.flush()
