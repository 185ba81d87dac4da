"""Who owns the cluster the web app serves.

Under a head node the app serves that head (``HeadController``); the standalone
``pycluster api`` process starts and stops a local cluster over REST
(``StandaloneController``). Routers only talk to a controller.

The stateful services (the job queue, the dataset registry) do not need a cluster: the
standalone controller keeps them open from the start, so that jobs can be submitted,
listed and cancelled and datasets registered while the cluster is stopped; the head it
starts adopts them (its client is attached to the queue) and gives them back on stop.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import ClusterNotRunningError, JobStateError

if TYPE_CHECKING:
    from ..cluster.head import HeadNode
    from ..config import Settings
    from ..data.registry import DatasetRegistry
    from ..jobs.queue import JobQueue

__all__ = ["HeadController", "StandaloneController", "served_url"]


def served_url(host: str, port: int, *, https: bool = False) -> str:
    """The URL clients reach an app on ``host``:``port`` at (a wildcard host: this machine's address)."""
    from ..cluster.ports import advertised_host

    name = advertised_host(host)
    scheme = "https" if https else "http"
    return f"{scheme}://[{name}]:{port}" if ":" in name else f"{scheme}://{name}:{port}"


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

    @property
    def jobs(self) -> JobQueue:
        return self.require_head().jobs

    @property
    def datasets(self) -> DatasetRegistry:
        return self.require_head().datasets

    @property
    def dashboard_url(self) -> str | None:
        return self._head.dashboard_url

    def start_cluster(
        self,
        *,
        cluster_name: str | None = None,
        n_workers: int | None = None,
        worker_resources: dict[str, float] | None = None,
    ) -> tuple[bool, HeadNode]:
        """The head serving this app already runs: nothing is started (the arguments are unused)."""
        return False, self.require_head()

    def stop_cluster(self) -> None:
        raise JobStateError(
            "this API is served by the head node itself: stop it with Ctrl-C / SIGTERM or head.shutdown()"
        )


class StandaloneController:
    """``pycluster api``: a local cluster started on demand, sized by DASK_N_WORKERS etc.

    It holds the state directory (one head per state directory) and its job queue and
    dataset registry from :meth:`open` to :meth:`close`, cluster or not; ``url`` is where
    this API is served, which is also the cluster's dashboard.
    """

    standalone = True

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        from ..cluster.state_lock import StateDirLock

        self.settings = settings
        self.url = url
        self._head: HeadNode | None = None
        self._lock = threading.Lock()
        self._state_lock = StateDirLock(settings.cluster.resolved_state_dir())
        self._queue: JobQueue | None = None
        self._registry: DatasetRegistry | None = None

    @property
    def head(self) -> HeadNode | None:
        return self._head if self._head is not None and self._head.is_running else None

    @property
    def cluster_name(self) -> str:
        head = self.head
        return head.cluster_name if head is not None else self.settings.cluster.name

    @property
    def dashboard_url(self) -> str | None:
        return self.url

    def require_head(self) -> HeadNode:
        head = self.head
        if head is None:
            raise ClusterNotRunningError(
                "the cluster is not running: start it with POST /api/processing/cluster/start"
            )
        return head

    # ------------------------------------------------------------ state (no cluster needed)
    def open(self) -> StandaloneController:
        """Take the state directory and open its job queue and dataset registry.
        ClusterError when another head holds the directory. Safe to call twice."""
        with self._lock:
            self._open()
        return self

    def _open(self) -> tuple[JobQueue, DatasetRegistry]:
        if self._queue is not None and self._registry is not None:
            return self._queue, self._registry
        from ..data import operations  # noqa: F401  (registers the dataset operations)
        from ..data.registry import DatasetRegistry
        from ..jobs.operations import OPERATIONS
        from ..jobs.queue import DATABASE_NAME, JobQueue
        from ..jobs.service import queue_settings

        state_dir = self.settings.cluster.resolved_state_dir()
        self._state_lock.acquire()
        registry: DatasetRegistry | None = None
        try:
            d = self.settings.data
            registry = DatasetRegistry(state_dir / DATABASE_NAME, state_dir, d.roots, d.allow_remote_urls)
            queue = JobQueue(None, state_dir, queue_settings(self.settings), operations=OPERATIONS)
            queue.context.services["datasets"] = registry
            queue.start()
        except BaseException:
            if registry is not None:
                registry.close()
            self._state_lock.release()
            raise
        self._queue, self._registry = queue, registry
        return queue, registry

    @property
    def jobs(self) -> JobQueue:
        """The job queue: it accepts jobs at once; they run once the cluster is started."""
        queue = self._queue  # no lock once open: a cluster starting holds it for seconds
        if queue is not None:
            return queue
        with self._lock:
            return self._open()[0]

    @property
    def datasets(self) -> DatasetRegistry:
        registry = self._registry
        if registry is not None:
            return registry
        with self._lock:
            return self._open()[1]

    # ------------------------------------------------------------ the cluster
    def start_cluster(
        self,
        *,
        cluster_name: str | None = None,
        n_workers: int | None = None,
        worker_resources: dict[str, float] | None = None,
    ) -> tuple[bool, HeadNode]:
        """Start the local cluster; ``None`` arguments take the settings (DASK_N_WORKERS etc.).
        Answers ``(False, head)`` without starting anything when one already runs."""
        from ..cluster.head import HeadNode
        from ..data.service import DatasetService
        from ..jobs.service import JobQueueService

        with self._lock:
            if self.head is not None:
                return False, self.head
            queue, registry = self._open()
            c = self.settings.cluster
            settings = self.settings
            if cluster_name is not None and cluster_name != c.name:
                settings = replace(settings, cluster=replace(c, name=cluster_name))
            services = ("metrics", "gpu", JobQueueService(queue), DatasetService(registry), "llm")
            head = HeadNode(settings=settings, services=services)
            with self._state_lock.lending():  # the head runs on this API's store
                head.start(
                    n_local_workers=c.n_workers if n_workers is None else n_workers,
                    worker_resources=worker_resources,
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
        """Stop the cluster, then close the queue and the registry and free the state directory."""
        with self._lock:
            head, self._head = self._head, None
            queue, self._queue = self._queue, None
            registry, self._registry = self._registry, None
        try:
            if head is not None:
                head.shutdown()
        finally:
            try:
                if queue is not None:
                    queue.stop()
                if registry is not None:
                    registry.close()
            finally:
                if queue is not None or registry is not None:
                    self._state_lock.release()

    def connection_info(self) -> dict[str, Any]:
        head = self.head
        info = head.get_connection_info() if head else {"cluster_name": self.settings.cluster.name}
        if info.get("dashboard_url") is None and self.url is not None:
            info["dashboard_url"] = self.url
            if "dashboard_address" in info:
                info["dashboard_address"] = self.url
            if "api_docs_url" in info:
                info["api_docs_url"] = f"{self.url}/docs"
        return info
