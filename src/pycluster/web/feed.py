"""LiveFeed: Server-Sent Events for the dashboard, one producer per refresh interval.

However many browsers are open, each interval in use has exactly one task that builds
the snapshot and encodes it once; every subscriber gets the same bytes. A producer
starts with its first subscriber and stops with its last, so an unwatched cluster
pays nothing. A slow browser never holds the producer up: it keeps only the newest
message (older ones are dropped, the next snapshot supersedes them anyway).

The dashboard asks for deltas (``?deltas=1``): one whole snapshot, then only what changed
each tick, encoded once for all of them. A browser that has not read its last delta when the
next is ready gets a whole snapshot instead (a dropped delta would leave it wrong for good).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .delta import diff

__all__ = ["INTERVALS", "LiveFeed", "sse_message"]

INTERVALS = (1, 2, 5, 10, 30)  # seconds a browser may ask for; bounds the number of producers
RETRY_MS = 3000  # how long EventSource waits before reconnecting
log = logging.getLogger(__name__)

Build = Callable[[float], Awaitable[dict[str, Any]]]
_CLOSED = b""


def sse_message(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One SSE message; JSON on a single ``data:`` line (json.dumps never emits newlines)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


@dataclass(eq=False)
class _Subscriber:
    deltas: bool  # sent deltas after a first whole snapshot (the dashboard); else whole snapshots
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    has_base: bool = False  # got a whole snapshot that later deltas apply to


class _Producer:
    def __init__(self, interval: float, build: Build) -> None:
        self.interval = interval
        self.build = build
        self.subscribers: set[_Subscriber] = set()
        self.state: dict[str, Any] | None = None  # the latest snapshot, the base of the next delta
        self.builds = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.subscribers:
            started = loop.time()
            await self._tick()
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))

    async def _tick(self) -> None:
        self.builds += 1
        try:
            snapshot = await self.build(self.interval)
        except Exception as exc:  # the stream outlives one bad tick; the browser shows why
            log.debug("dashboard snapshot failed", exc_info=True)
            problem = sse_message("problem", {"detail": f"{type(exc).__name__}: {exc}"}, self.builds)
            for subscriber in list(self.subscribers):
                _offer(subscriber.queue, problem)
                subscriber.has_base = False  # it may have pushed out an unread delta
            return
        previous, self.state = self.state, snapshot
        whole: bytes | None = None  # encoded once, and only when someone needs it
        delta: bytes | None = None
        for subscriber in list(self.subscribers):
            if (
                subscriber.deltas
                and subscriber.has_base
                and previous is not None
                and not subscriber.queue.full()
            ):
                if delta is None:
                    delta = sse_message("delta", diff(previous, snapshot), self.builds)
                subscriber.queue.put_nowait(delta)
                continue
            # a new or slow browser (its last delta unread: a dropped delta would break the chain)
            if whole is None:
                whole = sse_message("snapshot", snapshot, self.builds)
            _offer(subscriber.queue, whole)
            subscriber.has_base = True

    def welcome(self, subscriber: _Subscriber) -> None:
        """Paint a new subscriber at once with the latest snapshot; the next tick follows."""
        if self.state is not None:
            subscriber.queue.put_nowait(sse_message("snapshot", self.state, self.builds))
            subscriber.has_base = True


def _offer(queue: asyncio.Queue[bytes], message: bytes) -> None:
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(message)


class LiveFeed:
    """Fan-out of dashboard snapshots to every connected browser."""

    def __init__(self, build: Build) -> None:
        self._build = build
        self._producers: dict[float, _Producer] = {}
        self._closed = False

    @property
    def producers(self) -> dict[float, int]:
        """Interval -> number of subscribers, for each producer running now."""
        return {i: len(p.subscribers) for i, p in self._producers.items()}

    def builds(self, interval: float) -> int:
        """Snapshots built so far by the producer for ``interval`` (0 if none runs)."""
        producer = self._producers.get(interval)
        return producer.builds if producer else 0

    async def subscribe(self, interval: float, deltas: bool = False) -> AsyncIterator[bytes]:
        """SSE bytes: a retry hint, then one ``snapshot`` event per ``interval`` until the client
        leaves; with ``deltas``, a first ``snapshot`` and then ``delta`` events (see ``delta.py``)."""
        producer = self._producers.get(interval)
        if producer is None:
            producer = self._producers[interval] = _Producer(interval, self._build)
        subscriber = _Subscriber(deltas)
        producer.subscribers.add(subscriber)
        producer.welcome(subscriber)
        if producer.task is None or producer.task.done():
            producer.task = asyncio.create_task(producer.run())
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while not self._closed:
                message = await subscriber.queue.get()
                if message == _CLOSED:
                    break
                yield message
        finally:
            self._leave(producer, subscriber)

    def _leave(self, producer: _Producer, subscriber: _Subscriber) -> None:
        producer.subscribers.discard(subscriber)
        if not producer.subscribers:
            if producer.task is not None:
                producer.task.cancel()
            if self._producers.get(producer.interval) is producer:
                del self._producers[producer.interval]

    def close(self) -> None:
        """End every stream (the server is stopping: open streams would hold its shutdown)."""
        self._closed = True
        for producer in list(self._producers.values()):
            for subscriber in list(producer.subscribers):
                _offer(subscriber.queue, _CLOSED)
