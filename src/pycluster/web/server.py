"""The web app as a head service: uvicorn on the head's event loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..cluster.ports import bind_listening_socket
from ..cluster.services import HeadContext, HeadService
from ..errors import ClusterError
from .app import create_app
from .auth import ensure_token
from .heap import freeze_start_up_heap, thaw_heap
from .threadpool import adopt_root_task
from .tls import WebTLS

__all__ = ["WebServer", "WebService", "warm_up"]

log = logging.getLogger(__name__)

# a path no route has: matching it walks every route once
_WARM_UP_PATH = "/.well-known/pycluster-warm-up"


async def warm_up(app: Any, host: str = "127.0.0.1") -> int:
    """Send ``app`` one request for a path it does not have, in process; the answer's status.

    FastAPI prepares each included router's routes on the first request that walks them (about
    0.35 s of CPU for this app). :class:`WebServer` sends it as it starts, in a thread, so the
    first clients seldom wait for that work (they were the slowest percent of every benchmark);
    one that comes sooner waits for FastAPI's lock, not longer than it would have."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": _WARM_UP_PATH,
        "raw_path": _WARM_UP_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode())],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }
    await app(scope, receive, send)
    return status


def _warm_up_quietly(app: Any) -> int:
    try:
        return asyncio.run(warm_up(app))
    except Exception:  # only a speed-up: the first request does the same work if this failed
        log.warning("warming up the web app failed", exc_info=True)
        return 0


class WebServer:
    """uvicorn serving ``app`` on a socket bound up front (so port 0 and 'in use' are exact),
    over HTTPS when ``tls`` is given."""

    def __init__(self, app: Any, host: str, port: int, tls: WebTLS | None = None) -> None:
        self.app = app
        self.tls = tls
        self._socket = bind_listening_socket(host, port, "dashboard")
        self.port: int = self._socket.getsockname()[1]
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[int] | None = None

    async def start(self) -> None:
        import uvicorn

        # open dashboard streams never end by themselves: give them 2 s, then close them;
        # log_config=None: uvicorn's records go to the application's handlers, in its one format
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=2,
            **(self.tls.uvicorn_options() if self.tls else {}),
        )
        self._server = uvicorn.Server(config)
        # in a thread of its own (its own loop): the head's loop, which the scheduler shares, is
        # not held for it, nor is start-up; a request that comes first waits for FastAPI's lock
        self._warm = asyncio.create_task(asyncio.to_thread(_warm_up_quietly, self.app))
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        adopt_root_task(self._task)  # sync routes' worker threads then live as long as the server
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the start-up error
                raise ClusterError("the web app stopped during start-up")
            await asyncio.sleep(0.01)
        # the routes and the cluster exist now: keep them out of later full collections, which
        # otherwise held the loop (and every request) for ~0.1 s at a time under load
        freeze_start_up_heap()

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            feed = getattr(self.app.state, "live_feed", None)
            if feed is not None:
                feed.close()  # ends the dashboard streams, so shutdown need not wait for them
            self._server.should_exit = True
            await asyncio.wait({self._task}, timeout=5)
        if self._warm is not None:
            await asyncio.wait({self._warm}, timeout=5)
        self._socket.close()
        thaw_heap()


class WebService(HeadService):
    """Head service "web": the dashboard and REST API on the head's dashboard port
    (``server``: the :class:`WebServer`; ``port``: where it listens; ``tls``: its HTTPS
    certificate, None for plain HTTP)."""

    name = "web"

    def __init__(self) -> None:
        self.server: WebServer | None = None
        self.port: int | None = None
        self.tls: WebTLS | None = None

    async def start(self, ctx: HeadContext) -> None:
        c = ctx.settings.cluster
        await asyncio.to_thread(ensure_token, ctx.settings, ctx.state_dir)
        self.tls = await asyncio.to_thread(WebTLS.from_settings, c)
        self.server = WebServer(create_app(ctx.head), c.host, c.dashboard_port, self.tls)
        self.port = self.server.port
        await self.server.start()

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await asyncio.wait_for(server.stop(), 10)
