"""Dynamic batching inside a replica: concurrent requests share one forward batch.

Requests queue while the engine works; the batch thread then takes up to ``batch_size``
of them that sample alike (greedy, or the same temperature/top_p/seed) and runs them as
one ``engine.generate`` call. A lone request waits at most ``window`` seconds for company.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchItem", "DynamicBatcher"]


@dataclass
class BatchItem:
    key: Any
    payload: Any
    future: Future[Any] = field(default_factory=Future)
    alone: bool = False  # streamed requests run in a batch of their own


class DynamicBatcher:
    """Runs ``run_batch(items)`` on a thread of its own, for batches of up to ``batch_size`` items."""

    def __init__(self, run_batch: Callable[[list[BatchItem]], None], batch_size: int, window: float = 0.005):
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.window = window
        self.forward_batches = 0
        self.batched_requests = 0
        self.largest_batch = 0
        self._queue: queue.Queue[BatchItem | None] = queue.Queue()
        self._held: list[BatchItem] = []
        self._thread = threading.Thread(target=self._loop, name="pycluster-llm-batcher", daemon=True)
        self._thread.start()

    def submit(self, key: Any, payload: Any, alone: bool = False) -> Future[Any]:
        item = BatchItem(key, payload, alone=alone)
        self._queue.put(item)
        return item.future

    def stats(self) -> dict[str, Any]:
        return {
            "forward_batches": self.forward_batches,
            "batched_requests": self.batched_requests,
            "largest_batch": self.largest_batch,
            "queued": self._queue.qsize() + len(self._held),
        }

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def _loop(self) -> None:
        while True:
            first = self._held.pop(0) if self._held else self._queue.get()
            if first is None:
                return
            batch = [first] if first.alone else self._gather(first)
            self.forward_batches += 1
            self.batched_requests += len(batch)
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                self.run_batch(batch)
            except BaseException as exc:  # every waiting caller hears about it
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _gather(self, first: BatchItem) -> list[BatchItem]:
        batch = [first]
        for item in list(self._held):
            if len(batch) < self.batch_size and item.key == first.key and not item.alone:
                batch.append(item)
                self._held.remove(item)
        deadline = time.monotonic() + self.window
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            if item.key == first.key and not item.alone:
                batch.append(item)
            else:
                self._held.append(item)
        return batch
