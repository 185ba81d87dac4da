"""Dask's own HTTP servers: off when off, and never on the network unless asked.

Dask's scheduler and every Dask worker start an HTTP server of their own, with no
authentication, whatever ``dashboard=`` says: the scheduler's serves worker logs
(``/info/logs/<worker>``), call stacks, ``/json/identity.json`` and a live
``/eventstream``; a worker's serves ``/metrics``, ``/health`` and static files.
Here:

- A head with diagnostics off (``dask_dashboard_port=False``) runs
  :class:`SchedulerWithoutHTTP`: no HTTP server at all. pycluster's own dashboard and
  ``/metrics`` (the web app) are the head's HTTP face.
- With diagnostics on, Dask's dashboard binds to :func:`diagnostics_host`: loopback
  unless the user names a host (``dask_dashboard_host``); from another machine, reach it
  through an SSH tunnel.
- pycluster's workers (:class:`WorkerWithoutHTTP`, run by every Nanny that
  ``pycluster worker`` starts) serve no HTTP at all; nothing in pycluster reads a
  worker's HTTP port.
- :class:`ClusterClient` is Dask's client, whose ``dashboard_link`` (and so its
  notebook display) copes with a scheduler that has no dashboard.

>>> diagnostics_host("0.0.0.0")
'127.0.0.1'
>>> diagnostics_host("127.0.0.1"), diagnostics_host("::1"), diagnostics_host("10.0.0.5", "10.0.0.5")
('127.0.0.1', '::1', '10.0.0.5')
"""

from __future__ import annotations

from typing import Any

from distributed import Client, Scheduler, Worker

from .ports import is_loopback

__all__ = [
    "ClusterClient",
    "SchedulerWithoutHTTP",
    "WorkerWithoutHTTP",
    "diagnostics_host",
    "is_loopback",
]


def diagnostics_host(head_host: str, requested: str | None = None) -> str:
    """Where Dask's diagnostics dashboard listens for a head bound on ``head_host``.

    ``requested`` (``dask_dashboard_host``) wins: the user asked for it. Otherwise a
    loopback head keeps it on its own loopback address, and any other head (0.0.0.0, a
    LAN address, a host name) binds it to 127.0.0.1: Dask's dashboard has no
    authentication and shows worker logs and call stacks, so it never reaches the
    network by default.
    """
    if requested:
        return requested.strip().strip("[]")
    if is_loopback(head_host) and head_host.strip().lower() != "localhost":
        return head_host.strip().strip("[]")
    return "127.0.0.1"


def _no_http_server(node: Any) -> None:
    # what Dask's ServerNode.start_http_server leaves behind, minus the server: nothing
    # listens, no "dashboard" service is announced to clients or the scheduler
    node.http_server = None


class SchedulerWithoutHTTP(Scheduler):
    """A Dask scheduler that starts no HTTP server (Dask's always starts one)."""

    def start_http_server(self, *args: Any, **kwargs: Any) -> None:
        _no_http_server(self)


class WorkerWithoutHTTP(Worker):
    """A Dask worker that starts no HTTP server (Dask's serves /metrics, /health, /statics)."""

    def start_http_server(self, *args: Any, **kwargs: Any) -> None:
        _no_http_server(self)


class ClusterClient(Client):
    """Dask's Client; ``dashboard_link`` is None (not a KeyError) when the scheduler has no dashboard."""

    # typed, so that strict modules may call it: Dask's Client.__init__ is unannotated
    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)  # type: ignore[no-untyped-call]  # see above

    @property
    def dashboard_link(self) -> str | None:
        try:
            link: str = super().dashboard_link
            return link
        except KeyError:  # no "dashboard" among the scheduler's services: diagnostics are off
            return None
