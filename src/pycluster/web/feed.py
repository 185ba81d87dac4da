"""LiveFeed: Server-Sent Events for the dashboard, one producer per refresh interval.

However many browsers are open, each interval in use has exactly one task that builds
the snapshot and encodes it once; every subscriber gets the same bytes. A producer
starts with its first subscriber and stops with its last, so an unwatched cluster
pays nothing. A slow browser never holds the producer up: it keeps only the newest
message (older ones are dropped, the next snapshot supersedes them anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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


class _Producer:
    def __init__(self, interval: float, build: Build) -> None:
        self.interval = interval
        self.build = build
        self.subscribers: set[asyncio.Queue[bytes]] = set()
        self.last: bytes | None = None
        self.builds = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.subscribers:
            started = loop.time()
            self.last = await self._message()
            for queue in list(self.subscribers):
                _offer(queue, self.last)
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))

    async def _message(self) -> bytes:
        self.builds += 1
        try:
            return sse_message("snapshot", await self.build(self.interval), self.builds)
        except Exception as exc:  # the stream outlives one bad tick; the browser shows why
            log.debug("dashboard snapshot failed", exc_info=True)
            return sse_message("problem", {"detail": f"{type(exc).__name__}: {exc}"}, self.builds)


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

    async def subscribe(self, interval: float) -> AsyncIterator[bytes]:
        """SSE bytes: a retry hint, then one snapshot per ``interval`` until the client leaves."""
        producer = self._producers.get(interval)
        if producer is None:
            producer = self._producers[interval] = _Producer(interval, self._build)
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        producer.subscribers.add(queue)
        if producer.last is not None:
            queue.put_nowait(producer.last)  # paint at once; the next tick follows
        if producer.task is None or producer.task.done():
            producer.task = asyncio.create_task(producer.run())
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while not self._closed:
                message = await queue.get()
                if message == _CLOSED:
                    break
                yield message
        finally:
            self._leave(producer, queue)

    def _leave(self, producer: _Producer, queue: asyncio.Queue[bytes]) -> None:
        producer.subscribers.discard(queue)
        if not producer.subscribers:
            if producer.task is not None:
                producer.task.cancel()
            if self._producers.get(producer.interval) is producer:
                del self._producers[producer.interval]

    def close(self) -> None:
        """End every stream (the server is stopping: open streams would hold its shutdown)."""
        self._closed = True
        for producer in list(self._producers.values()):
            for queue in list(producer.subscribers):
                _offer(queue, _CLOSED)
