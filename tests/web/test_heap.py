"""A serving web server keeps its start-up objects out of full collections, and gives them back
when it stops (a process that starts and stops heads must not keep a stopped one's cycles)."""

from __future__ import annotations

import asyncio
import gc

import httpx
from fastapi import FastAPI

from pycluster.web.server import WebServer


def test_start_up_objects_frozen_while_serving_and_thawed_after() -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    async def serve() -> tuple[int, int, int]:
        server = WebServer(app, "127.0.0.1", 0)
        await server.start()
        try:
            frozen = gc.get_freeze_count()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
                answer = await http.get("/ping")
        finally:
            await server.stop()
        return frozen, answer.status_code, gc.get_freeze_count()

    frozen, status, after = asyncio.run(serve())
    assert status == 200
    assert frozen > 10_000  # the interpreter, FastAPI and this test's objects at least
    assert after == 0
