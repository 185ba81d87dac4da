"""What the web app needs from the cluster it serves.

A head node provides it in-process; a standalone API process (later) provides
it through a Dask client. Routers only see this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ClusterSource"]


class ClusterSource(Protocol):
    cluster_name: str

    @property
    def uptime_seconds(self) -> float: ...

    def get_connection_info(self) -> dict[str, Any]: ...

    async def snapshot(self) -> dict[str, Any]:
        """The scheduler's ``identity()`` (the same shape as ``Client.scheduler_info()``)."""
        ...
