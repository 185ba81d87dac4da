"""ClusterManager: submit work to a cluster, add and remove local workers.

>>> cm = ClusterManager("demo")                                    # doctest: +SKIP
>>> cm.start_head_node(scheduler_port=0, dashboard_port=0, n_local_workers=2)  # doctest: +SKIP
>>> cm.submit_task(pow, 2, 10).result()                             # doctest: +SKIP
1024
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from distributed import Client, Future, wait

from ..config import Settings
from ..errors import ClusterNotRunningError, SchedulerUnreachableError
from .batching import BatchItemFuture, auto_batch_size, fill_batches, gather_plan, submit_batches
from .diagnostics import ClusterClient
from .local_heads import key_for
from .local_workers import LocalWorkers
from .ports import normalize_scheduler_address, wait_until_reachable
from .security import cluster_security, scheduler_security, tls_address
from .status import cluster_summary
from .worker_options import WorkerOptions
from .worker_process import WorkerProcess


class Head(Protocol):
    """What a ClusterManager needs of the head it belongs to (a :class:`HeadNode`)."""

    local_workers: LocalWorkers
    settings: Settings
    services: dict[str, Any]

    @property
    def scheduler_address(self) -> str: ...

    @property
    def in_process_address(self) -> str | None: ...

    @property
    def auth_key(self) -> str | None: ...

    @property
    def dashboard_url(self) -> str | None: ...

    def shutdown(self) -> None: ...


__all__ = ["ClusterManager"]

# Keyword arguments of submit_task/map_tasks that steer Dask instead of reaching the function,
# as in distributed.Client.submit. Use functools.partial to pass these names to a function.
DASK_OPTIONS = frozenset({"resources", "priority", "retries", "workers", "allow_other_workers", "key"})


class ClusterManager:
    """The client side of a cluster: submit, map and gather tasks, cluster info, local workers.

    Either start a head (``start_head_node``), attach to a running one
    (``ClusterManager.connect(address)``), or get one from ``HeadNode.cluster_manager``.
    Local workers belong to the head when there is one in this process (``add_worker``
    and ``scale`` go through ``head.local_workers``); a manager that connected to a
    remote head owns the workers it adds itself, and stops them in ``shutdown()``.
    """

    def __init__(self, cluster_name: str = "pycluster") -> None:
        self.cluster_name = cluster_name
        self.scheduler_address: str | None = None
        self.head: Head | None = None
        self._client: Client | None = None
        self._own_workers: LocalWorkers | None = None
        self._auth_key: str | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- attach
    @classmethod
    def connect(
        cls,
        address: str,
        timeout: float = 10.0,
        cluster_name: str | None = None,
        auth_key: str | None = None,
    ) -> ClusterManager:
        """Attach to any running pycluster head or plain Dask scheduler at ``address``.

        ``auth_key`` (default: ``PYCLUSTER_AUTH_KEY``) is the head's cluster key; a head with
        a key refuses a client without it (:class:`AuthenticationError`, before anything runs).
        """
        manager = cls(cluster_name or "pycluster")
        # no key given: this user's own head on this machine publishes its key (local_heads)
        key = auth_key or os.environ.get("PYCLUSTER_AUTH_KEY") or key_for(address)
        manager._attach(address, timeout, key)
        return manager

    def _attach(
        self, address: str, timeout: float, auth_key: str | None, check: bool = True, via: str | None = None
    ) -> None:
        """Become the client of the scheduler at ``address``; ``via``: the address to connect to
        instead (the in-process one of a head in this process)."""
        address = normalize_scheduler_address(address)
        if auth_key:
            address = tls_address(address)
        if via is None:
            wait_until_reachable(address, timeout)
        # a wrong or missing key fails here at once; Dask alone would time out saying little
        if check:
            security = scheduler_security(address, auth_key)
        else:  # our own head: nothing to check
            security = cluster_security(auth_key) if auth_key else None
        try:
            # the default client, so dask collections, wait() and as_completed() use this cluster
            self._client = ClusterClient(
                via or address, timeout=timeout, set_as_default=True, security=security
            )
        except OSError as exc:
            raise SchedulerUnreachableError(
                f"could not connect a client to {address} within {timeout:g}s: {exc}"
            ) from None
        except (MemoryError, ValueError):
            # another protocol's answer read as a Dask frame (an HTTP server's "400 Bad Request":
            # its first bytes taken for a length); say what answers there instead
            from .scheduler_probe import diagnose_port

            raise SchedulerUnreachableError(
                f"could not connect a client to {address}: {diagnose_port(address)}"
            ) from None
        self.scheduler_address = address
        self._auth_key = auth_key

    def start_head_node(
        self,
        host: str | None = None,
        scheduler_port: int | None = None,
        dashboard_port: int | None = None,
        n_local_workers: int = 0,
        **head_options: Any,
    ) -> dict[str, Any]:
        """Start a head node in this process (see :class:`HeadNode`); its start() dict."""
        from .head import HeadNode

        head = HeadNode(
            self.cluster_name,
            host=host,
            scheduler_port=scheduler_port,
            dashboard_port=dashboard_port,
            cluster_manager=self,
            **head_options,
        )
        return head.start(n_local_workers=n_local_workers)

    @property
    def client(self) -> Client:
        """The ``distributed.Client`` underneath, for anything Dask can do.

        A head's own manager reaches the scheduler in memory: its ``client.scheduler.address``
        is an ``inproc://`` address, valid in this process only. Give other processes
        :attr:`scheduler_address`."""
        if self._client is None:
            raise ClusterNotRunningError(
                "this ClusterManager is not attached to a cluster: call start_head_node() "
                "or use ClusterManager.connect('tcp://HOST:8786')"
            )
        return self._client

    # ----------------------------------------------------------------- workers
    def add_worker(
        self,
        scheduler_address: str | None = None,
        n_workers: int = 1,
        threads_per_worker: int | None = None,
        memory_limit: str | int | float = "auto",
        resources: dict[str, float] | str | None = None,
        name: str | None = None,
        timeout: float = 60.0,
        dask_config: Mapping[str, object] | None = None,
    ) -> dict[str, Any]:
        """Start ``n_workers`` local worker processes that join ``scheduler_address``.

        Each worker is a Dask worker in a fresh subprocess of its own, supervised by
        :class:`LocalWorkers` (started again if it dies); they end with this process.
        ``dask_config`` sets Dask options in those processes only (dotted keys).
        """
        address = scheduler_address or self.scheduler_address
        if address is None:
            raise ClusterNotRunningError("no scheduler to join: pass scheduler_address or start a head")
        options = WorkerOptions.create(
            address,
            n_workers,
            threads_per_worker,
            memory_limit,
            resources,
            name,
            death_timeout=60.0,
            auth_key=self._auth_key,
            dask_config=dask_config,
            nanny=False,
        )
        processes = self._workers_for(options.scheduler_address).add(options, timeout)
        return {
            "status": "success",
            "scheduler_address": options.scheduler_address,
            "n_workers": sum(len(p.worker_addresses) for p in processes),
            "workers": [a for p in processes for a in p.worker_addresses],
            "pids": [p.pid for p in processes],
        }

    def _workers_for(self, address: str) -> LocalWorkers:
        """The head's local workers for its own scheduler; else this manager's own."""
        if self.head is not None and address == self.scheduler_address:
            return self.head.local_workers
        with self._lock:
            if self._own_workers is None:
                self._own_workers = LocalWorkers(self.cluster_name)
            return self._own_workers

    def _local_workers(self) -> LocalWorkers | None:
        return self.head.local_workers if self.head is not None else self._own_workers

    @property
    def local_worker_processes(self) -> list[WorkerProcess]:
        """The local worker subprocesses of this cluster (one Dask worker each)."""
        workers = self._local_workers()
        return workers.processes if workers is not None else []

    def scale(self, n: int, timeout: float = 60.0) -> dict[str, Any]:
        """Make the number of local worker processes ``n`` (starting or retiring some)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"scale needs a whole number of workers >= 0, got {n!r}")
        current = self.local_worker_processes
        if n > len(current):
            template = current[-1].options if current else None
            self.add_worker(
                n_workers=n - len(current),
                threads_per_worker=template.threads_per_worker if template else None,
                memory_limit=template.memory_limit if template else "auto",
                resources=template.resources if template else None,
                timeout=timeout,
                dask_config=template.dask_config if template else None,
            )
        elif n < len(current):
            workers = self._local_workers()
            assert workers is not None  # there are processes, so there is their owner
            workers.retire(current[n:], self._retire_workers)
        return {"status": "success", "n_workers": len(self.local_worker_processes)}

    def _retire_workers(self, addresses: list[str]) -> None:
        # moves their data elsewhere first, so no result is lost
        if self._client is not None:
            self._client.retire_workers(workers=addresses, close_workers=False)

    # ----------------------------------------------------------------- tasks
    def submit_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``func(*args, **kwargs)`` on the cluster; a future with ``.result(timeout=)``.

        ``resources``, ``priority``, ``retries``, ``workers``, ``allow_other_workers``
        and ``key`` steer Dask (as in ``Client.submit``) and are not passed to ``func``.
        """
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in DASK_OPTIONS}
        return self.client.submit(func, *args, pure=False, **options, **kwargs)

    def map_tasks(
        self,
        func: Callable[..., Any],
        *iterables: Iterable[Any],
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> list[Future[Any]] | list[BatchItemFuture]:
        """Apply ``func`` to each item (zipped across ``iterables``); one future per item, in order.

        Large inputs are sent in batches (``batch_size`` items per Dask task, chosen
        automatically when None) so 100k small items do not drown the scheduler.
        """
        if not iterables:
            raise ValueError("map_tasks needs at least one iterable of arguments")
        arg_tuples = list(zip(*iterables))
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in DASK_OPTIONS}
        size = batch_size or auto_batch_size(len(arg_tuples), self._total_threads())
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if size == 1 or _has_futures(arg_tuples):
            columns: list[Sequence[Any]] = list(zip(*arg_tuples)) if arg_tuples else [[] for _ in iterables]
            return list(self.client.map(func, *columns, pure=False, **options, **kwargs))
        return submit_batches(self.client, func, arg_tuples, size, kwargs, options)

    def gather(
        self, futures: Iterable[Future[Any] | BatchItemFuture], timeout: float | None = None
    ) -> list[Any]:
        """Results of ``futures`` in order (raises the first task error).

        One ``Client.gather`` for them all (results come in one round trip, not one each);
        ``timeout`` bounds the wait for them to finish (``TimeoutError``).
        """
        items = list(futures)
        if timeout is None and all(isinstance(f, Future) for f in items):
            # plain futures, no deadline: exactly Client.gather (one call, first error in order)
            return list(self.client.gather(items))
        plan = gather_plan(items)  # each Dask future once; a batch's for its items
        wait(list(plan.values()), timeout=timeout)
        ok = {key: f for key, f in plan.items() if f.status == "finished"}
        values = dict(zip(ok, self.client.gather(list(ok.values())))) if ok else {}
        fill_batches(items, values)
        # in order, so the first failure raises, as result() one by one would
        return [values[f.key] if isinstance(f, Future) and f.key in values else f.result() for f in items]

    def _total_threads(self) -> int:
        try:
            return max(1, int(sum(self.client.nthreads().values())))
        except Exception:
            return 1

    # ----------------------------------------------------------------- status
    def get_cluster_info(self) -> dict[str, Any]:
        """Cluster name, addresses, totals and one entry per worker."""
        if self._client is None:
            return {"cluster_name": self.cluster_name, "status": "stopped", "n_workers": 0, "workers": []}
        summary = cluster_summary(self._client.scheduler_info(n_workers=-1))
        info = {
            "cluster_name": self.cluster_name,
            "status": "running",
            "scheduler_address": self.scheduler_address,
            "dashboard_url": self.head.dashboard_url if self.head else None,
            "local_worker_processes": len(self.local_worker_processes),
        }
        return {**info, **summary}

    # ----------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Stop the workers this manager started, close the client and the head it owns."""
        if self.head is not None:
            self.head.shutdown()  # releases this manager first
        else:
            self.release()

    def attach_head(self, head: Head, timeout: float) -> None:
        """Become the client of ``head`` (which calls this once its scheduler listens)."""
        self.head = head
        self._attach(head.scheduler_address, timeout, head.auth_key, check=False, via=head.in_process_address)

    def release(self) -> None:
        """Close the client and stop the local workers this manager owns.

        The head this manager belongs to calls it as it shuts down (the head stops its own
        local workers); ``shutdown()`` is the call for users (it also stops that head)."""
        own, self._own_workers = self._own_workers, None
        if own is not None:  # they close while the client does
            own.signal_stop()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=5)
            self._client = None
        if own is not None:
            own.stop()
        self.head = None

    def __enter__(self) -> ClusterManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<ClusterManager {self.cluster_name!r} scheduler={self.scheduler_address}>"

    def _repr_html_(self) -> str:
        """Jupyter's view: name, scheduler, dashboard link, workers, cores and memory (never the key)."""
        from ..html_repr import Link, cluster_rows, html_table

        title = f"ClusterManager: {self.cluster_name}"
        client = self._client
        if client is None:
            return html_table(title, [("status", "not connected")])
        dashboard = self.head.dashboard_url if self.head is not None else None
        rows: list[tuple[str, object]] = [
            ("status", "connected"),
            ("scheduler", self.scheduler_address),
            ("dashboard", Link(dashboard) if dashboard else None),
            ("local worker processes", len(self.local_worker_processes)),
        ]
        try:
            identity: dict[str, Any] | None = client.scheduler_info(n_workers=-1)
        except Exception:  # a notebook cell must render even when the scheduler is gone
            identity = None
        return html_table(title, rows + cluster_rows(identity))


def _has_futures(arg_tuples: list[tuple[Any, ...]]) -> bool:
    return any(isinstance(a, Future) for args in arg_tuples[:1000] for a in args)
