"""The one bridge between threads and event loops in pycluster.

Every hop from one thread or loop to another goes through here:

- :class:`LoopThread` — a private event loop in a daemon thread. The head node runs
  Dask's scheduler, the web app and its services on one, so that ``HeadNode.start()``
  returns at once in a script or a notebook. ``run(coro, timeout)`` is for synchronous
  callers in other threads; ``await on_loop(coro)`` is for coroutines on another loop
  (or on this one: then it is a plain ``await``).
- :func:`call_on`, :func:`run_on` and :func:`await_on` — the same three hops for any
  loop (a Dask client's loop, a loop that may not be running yet).
- :func:`run_sync` — run a coroutine to completion from synchronous code that has no loop
  of its own, even inside a running loop (Jupyter).

Blocking work called *from* a loop goes the other way, with ``asyncio.to_thread``.
See ``docs/architecture.md`` for which thread and loop own what.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "await_on", "call_on", "run_on", "run_sync"]

T = TypeVar("T")


def call_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on ``loop`` (from another thread); ``.result(timeout)`` waits for it."""
    return asyncio.run_coroutine_threadsafe(coro, loop)


def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on ``loop`` and wait for its result, from a thread that is not the loop's.

    On a timeout the coroutine is cancelled and ``TimeoutError`` raised. Called on the loop's
    own thread it would wait for itself forever, so that raises ``RuntimeError`` at once.
    """
    if _running_loop() is loop:
        coro.close()
        raise RuntimeError("run_on() was called on the loop's own thread: await the coroutine instead")
    future = call_on(loop, coro)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise


async def await_on(loop: asyncio.AbstractEventLoop | None, coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on ``loop`` from any loop; on the same loop (or ``None``), just await it."""
    if loop is None or _running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(call_on(loop, coro))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, in a helper thread when this thread already runs a loop."""
    if _running_loop() is None:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pycluster-sync") as pool:
        return pool.submit(asyncio.run, coro).result()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopThread:
    """Runs coroutines on a loop that lives in its own thread.

    >>> lt = LoopThread("example").start()
    >>> async def answer() -> int:
    ...     return 42
    >>> lt.run(answer(), timeout=5)
    42
    >>> lt.stop()
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> LoopThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            # what is still pending when stop() is called (servers' background tasks, a
            # stray callback) is cancelled and awaited here, on the loop's own thread, so
            # that nothing is left half-closed holding a socket once the thread ends
            self.loop.run_until_complete(_cancel_pending())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        return run_on(self.loop, coro, timeout)

    async def on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on this loop from a coroutine on any loop (this one included)."""
        return await await_on(self.loop, coro)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop, cancel what is still pending on it, close it and join its thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed itself meanwhile
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


async def _cancel_pending() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
