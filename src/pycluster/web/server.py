"""The web app as a head service: uvicorn on the head's event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from ..cluster.ports import bind_listening_socket
from ..cluster.services import HeadContext, HeadService
from ..errors import ClusterError
from .app import create_app
from .auth import ensure_token
from .tls import WebTLS

__all__ = ["WebServer", "WebService"]


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
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the start-up error
                raise ClusterError("the web app stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            feed = getattr(self.app.state, "live_feed", None)
            if feed is not None:
                feed.close()  # ends the dashboard streams, so shutdown need not wait for them
            self._server.should_exit = True
            await asyncio.wait({self._task}, timeout=5)
        self._socket.close()


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
