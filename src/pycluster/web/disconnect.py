"""Run a blocking LLM call for a request, and cancel it if the client goes away meanwhile.

A streamed answer notices a closed connection when it next writes; an answer sent whole
writes only at its end, so without this a client that gave up (a closed tab, a client-side
timeout, a killed script) would keep its row generating on a replica until its deadline.
The connection is polled with Starlette's ``Request.is_disconnected`` while the call runs
on a worker thread; on a disconnect the call's ``CancelToken`` fires, which asks the replica
to end the row at its next decode step (it then answers ``finish_reason: "cancelled"`` to
nobody).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..llm.cancel import CancelToken

__all__ = ["POLL_S", "unless_disconnected"]

T = TypeVar("T")
POLL_S = 0.1  # seconds between looks at the connection: a row runs at most a few steps more


async def unless_disconnected(request: Request, work: Callable[[CancelToken], T]) -> T:
    """``work(token)`` on a worker thread; ``token`` fires if the client disconnects first."""
    token = CancelToken()
    task = asyncio.ensure_future(run_in_threadpool(work, token))
    while not task.done():
        await asyncio.wait({task}, timeout=POLL_S)
        if not task.done() and await request.is_disconnected():
            token.cancel()
            break
    return await task  # after a cancel: returns once the replica has let the row go
