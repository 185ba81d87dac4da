"""Who owns the cluster the web app serves.

Under a head node the app serves that head (``HeadController``); the standalone
``pycluster api`` process starts and stops a local cluster over REST
(``StandaloneController``). Routers only talk to a controller.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import ClusterNotRunningError, JobStateError

if TYPE_CHECKING:
    from ..cluster.head import HeadNode
    from ..config import Settings

__all__ = ["HeadController", "StandaloneController"]


class HeadController:
    """The app is served by ``head`` itself: the cluster runs as long as the head does."""

    standalone = False

    def __init__(self, head: HeadNode) -> None:
        self._head = head

    @property
    def head(self) -> HeadNode | None:
        return self._head if self._head.is_running else None

    @property
    def cluster_name(self) -> str:
        return self._head.cluster_name

    def require_head(self) -> HeadNode:
        if not self._head.is_running:
            raise ClusterNotRunningError("the head node is shutting down")
        return self._head

    def start_cluster(self) -> tuple[bool, HeadNode]:
        return False, self.require_head()

    def stop_cluster(self) -> None:
        raise JobStateError(
            "this API is served by the head node itself: stop it with Ctrl-C / SIGTERM or head.shutdown()"
        )


class StandaloneController:
    """``pycluster api``: a local cluster started on demand, sized by DASK_N_WORKERS etc."""

    standalone = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._head: HeadNode | None = None
        self._lock = threading.Lock()

    @property
    def head(self) -> HeadNode | None:
        return self._head if self._head is not None and self._head.is_running else None

    @property
    def cluster_name(self) -> str:
        return self.settings.cluster.name

    def require_head(self) -> HeadNode:
        head = self.head
        if head is None:
            raise ClusterNotRunningError(
                "the cluster is not running: start it with POST /api/processing/cluster/start"
            )
        return head

    def start_cluster(self) -> tuple[bool, HeadNode]:
        from ..cluster.head import HeadNode

        with self._lock:
            if self.head is not None:
                return False, self.head
            c = self.settings.cluster
            head = HeadNode(settings=self.settings, services=("metrics", "gpu", "jobs", "datasets", "llm"))
            head.start(
                n_local_workers=c.n_workers,
                threads_per_worker=c.threads_per_worker,
                memory_limit=c.memory_limit,
            )
            self._head = head
            return True, head

    def stop_cluster(self) -> None:
        with self._lock:
            head, self._head = self._head, None
        if head is None:
            raise JobStateError("the cluster is not running")
        head.shutdown()

    def close(self) -> None:
        with self._lock:
            head, self._head = self._head, None
        if head is not None:
            head.shutdown()

    def connection_info(self) -> dict[str, Any]:
        head = self.head
        return head.get_connection_info() if head else {"cluster_name": self.settings.cluster.name}
