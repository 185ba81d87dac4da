"""The web app as a head service: uvicorn on the head's event loop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..cluster.ports import bind_listening_socket
from ..errors import ClusterError
from .app import create_app
from .auth import ensure_token

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["WebServer", "start_web_app"]


class WebServer:
    """uvicorn serving ``app`` on a socket bound up front (so port 0 and 'in use' are exact)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self._socket = bind_listening_socket(host, port, "dashboard")
        self.port: int = self._socket.getsockname()[1]
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import uvicorn

        # open dashboard streams never end by themselves: give them 2 s, then close them
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
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


class _HeadWebService:
    def __init__(self, head: HeadNode, server: WebServer) -> None:
        self._head = head
        self.server = server
        self.port = server.port

    def stop(self) -> None:
        self._head.run_on_loop(self.server.stop(), timeout=10)


def start_web_app(head: HeadNode) -> _HeadWebService:
    """Head service factory: the dashboard and REST API on the head's dashboard port."""
    c = head.settings.cluster
    ensure_token(head.settings, head.state_dir)
    server = WebServer(create_app(head), c.host, c.dashboard_port)
    head.run_on_loop(server.start())
    return _HeadWebService(head, server)
