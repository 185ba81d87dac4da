"""Batching inside a replica: concurrent requests share forward passes.

The batch thread takes the requests already waiting (up to ``batch_size``, sampling alike:
greedy, or the same temperature/top_p/seed) and hands them to ``run_batch`` together with
``admit``: an engine that batches continuously calls ``admit(n)`` between decode steps to
take in up to n requests that arrived meanwhile. A lone request starts at once: waiting
for company only adds latency when the engine lets later requests join a running batch.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Admit", "BatchItem", "DynamicBatcher"]


@dataclass
class BatchItem:
    key: Any
    payload: Any
    future: Future[Any] = field(default_factory=Future)
    alone: bool = False  # a request that must not share its batch (streams on whole-batch engines)


Admit = Callable[[int], list[BatchItem]]


class DynamicBatcher:
    """Runs ``run_batch(items, admit)`` on a thread of its own, for batches of up to ``batch_size``."""

    def __init__(
        self,
        run_batch: Callable[[list[BatchItem], Admit], None],
        batch_size: int,
        window: float = 0.0,
    ):
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.window = window  # how long a new batch waits for company (0: take what is waiting)
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

    def observe(self, rows: int) -> None:
        """The engine ran ``rows`` requests in one forward step."""
        self.largest_batch = max(self.largest_batch, rows)

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
            batch = [first] if first.alone else self._gather(first, self.batch_size - 1, self.window)
            self.forward_batches += 1
            self.batched_requests += len(batch)
            self.observe(len(batch))
            try:
                self.run_batch(batch, functools.partial(self._admit, batch))
            except BaseException as exc:  # every waiting caller hears about it
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _admit(self, batch: list[BatchItem], n: int) -> list[BatchItem]:
        """Up to ``n`` waiting requests that may join ``batch`` while it runs."""
        if self._held or batch[0].alone:  # others wait for this batch to end: let it drain
            return []
        more = self._gather(batch[0], n, 0.0)[1:]
        batch += more
        self.batched_requests += len(more)
        return more

    def _gather(self, first: BatchItem, room: int, window: float) -> list[BatchItem]:
        """``first`` and up to ``room`` compatible requests: held ones, then queued ones."""
        batch = [first]
        for item in list(self._held):
            if len(batch) <= room and item.key == first.key and not item.alone:
                batch.append(item)
                self._held.remove(item)
        deadline = time.monotonic() + window
        while len(batch) <= room:
            try:
                queued = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if queued is None:
                self._queue.put(None)
                break
            if queued.key == first.key and not queued.alone:
                batch.append(queued)
            else:
                self._held.append(queued)
                break  # a different request waits: this batch takes no more
        return batch
