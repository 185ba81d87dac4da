"""The one thread/loop bridge (pycluster.cluster.loop): each hop, in milliseconds."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pycluster.cluster.loop import LoopThread, await_on, run_sync


@pytest.fixture
def loop_thread() -> LoopThread:
    lt = LoopThread("test-loop").start()
    yield lt  # type: ignore[misc]
    lt.stop()
    assert not lt.alive


async def where() -> str:
    return threading.current_thread().name


def test_run_waits_for_the_result_on_the_loop_thread(loop_thread: LoopThread) -> None:
    assert loop_thread.run(where(), timeout=5) == "test-loop"


def test_on_loop_hops_from_another_loop_and_not_from_its_own(loop_thread: LoopThread) -> None:
    async def from_elsewhere() -> tuple[str, str]:
        there = await loop_thread.on_loop(where())
        here = await await_on(asyncio.get_running_loop(), where())
        return there, here

    assert asyncio.run(from_elsewhere()) == ("test-loop", threading.current_thread().name)

    async def nested() -> str:  # already on the loop: a plain await, no hop to wait for itself
        return await loop_thread.on_loop(where())

    assert loop_thread.run(nested(), timeout=5) == "test-loop"


def test_await_on_no_loop_awaits_here() -> None:
    assert asyncio.run(await_on(None, where())) == threading.current_thread().name


def test_run_on_the_loops_own_thread_refuses_instead_of_hanging(loop_thread: LoopThread) -> None:
    async def deadlock() -> None:
        loop_thread.run(where(), timeout=5)

    with pytest.raises(RuntimeError, match="own thread"):
        loop_thread.run(deadlock(), timeout=5)


def test_run_timeout_cancels_the_coroutine(loop_thread: LoopThread) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        loop_thread.run(forever(), timeout=0.05)
    assert cancelled.wait(5)


def test_exceptions_travel_back(loop_thread: LoopThread) -> None:
    async def fails() -> None:
        raise ValueError("on the loop")

    with pytest.raises(ValueError, match="on the loop"):
        loop_thread.run(fails(), timeout=5)


def test_run_sync_works_with_and_without_a_running_loop() -> None:
    assert run_sync(where()) == threading.current_thread().name

    async def inside_a_loop() -> str:  # as in Jupyter: a helper thread runs it
        return run_sync(where())

    assert asyncio.run(inside_a_loop()).startswith("pycluster-sync")


def test_a_stopped_head_refuses_both_hops() -> None:
    from pycluster import HeadNode
    from pycluster.errors import ClusterNotRunningError

    head = HeadNode("stopped", scheduler_port=0, dashboard_port=0)
    with pytest.raises(ClusterNotRunningError, match="call start"):
        head.run_on_loop(where())
    with pytest.raises(ClusterNotRunningError, match="call start"):
        asyncio.run(head.on_loop(where()))
