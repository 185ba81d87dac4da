"""The Dask backend: attach to a running scheduler, or start a local pycluster head.

``address="tcp://HOST:PORT"`` attaches to any Dask scheduler (a pycluster head,
a ``LocalCluster``, dask-jobqueue...) and shutting down only closes the client.
``n_workers=N`` starts a head on 127.0.0.1 (every port picked free) with N local
worker processes, which are fresh interpreters that never re-import ``__main__``
and run without Dask's statistical profiler (``LOCAL_WORKER_DASK_CONFIG``);
shutting down stops all of it. ``initialize()`` returns once the head is up: the
workers join in the background (see ``_start_local_head``), and the first call that
needs them waits for them or raises why one could not start. The scheduler runs in the
caller's process, on the head's loop thread: measured, it costs ~2% of a core under a
CPU-bound map, and a round trip was no faster with the scheduler in a process of its own.

>>> with DaskBackend(n_workers=2) as backend:  # doctest: +SKIP
...     backend.num_workers()
2
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError
from ..runner import run_chunk
from .base import Backend, BackendType, check_worker_count

if TYPE_CHECKING:
    from distributed import Client

    from ...cluster import ClusterManager, HeadNode

__all__ = ["DaskBackend"]

WORKER_COUNT_TTL = 1.0  # seconds
RELEASE_DELAY = 0.05  # seconds a finished call's answers stay on the workers (see _release_later)

# Dask options for the worker processes of the local cluster this backend starts. Its head
# serves no Dask diagnostics dashboard, so nobody sees what these feed, and on 2 cores they
# cost what parallel efficiency is made of (measured, see benchmarks/parallel.py):
# - the statistical profiler walks the stack of the thread running a task 100 times a second,
#   taking the GIL from it each time: a CPU-bound task ran ~10% slower;
# - the event-loop tick every 20 ms (it only measures the loop's latency): with the profiler,
#   ~7% of a core per idle worker and Nanny pair, ~2% with both settings below.
# Dask's own cluster tests run with the same two values (distributed.utils_test).
LOCAL_WORKER_DASK_CONFIG: dict[str, object] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    # a worker without an HTTP server (WorkerWithoutHTTP) still imported the route modules
    # (prometheus_client among them): ~30 ms of each worker's start
    "distributed.worker.http.routes": [],
}


class DaskBackend(Backend):
    """Chunks run as Dask tasks; each moves as one bytes object (dask/distributed#6368)."""

    backend_type = BackendType.DASK
    # a task costs milliseconds of scheduler time here (DESIGN.md: ~2.4 ms on 2 cores),
    # so a large map sends one strided chunk per worker thread
    large_chunks_per_worker = 1
    task_overhead = 0.003

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        timeout: float = 30.0,
        num_workers: int | None = None,
    ) -> None:
        super().__init__()
        n_workers = check_worker_count(n_workers or num_workers, "n_workers")
        if address and n_workers:
            raise ConfigError("pass address= to attach to a scheduler or n_workers= to start one, not both")
        self.address = address
        self._n_workers = n_workers
        self._threads = check_worker_count(threads_per_worker, "threads_per_worker") or 1
        self._timeout = timeout
        self.head: HeadNode | None = None
        self.cluster_manager: ClusterManager | None = None
        self._worker_count = 1
        self._counted_at = float("-inf")
        self._joining: Future[object] | None = None  # the local workers' start, until it is over
        self._expected_threads = 0  # what they will bring, while they start
        # time.perf_counter() when the local workers had all joined (None: starting, or attached)
        self.workers_joined_at: float | None = None

    @property
    def client(self) -> Client:
        """The ``distributed.Client`` underneath (once the local workers, if any, have joined)."""
        self._wait_for_workers()
        return self._client()

    def _client(self) -> Client:
        self.ensure_running()
        assert self.cluster_manager is not None
        return self.cluster_manager.client

    def _wait_for_workers(self) -> None:
        """Block until the local workers joined; raise why they did not (again at every call)."""
        self.ensure_running()
        joining = self._joining
        if joining is not None:
            joining.result()  # add_worker's own timeout bounds this

    def _start(self) -> None:
        from ...cluster import ClusterManager

        if self.address:
            self.cluster_manager = ClusterManager.connect(self.address, timeout=self._timeout)
        else:
            self._start_local_head()

    def _start_local_head(self) -> None:
        from ...cluster import HeadNode

        head = HeadNode(
            "pycluster-parallel",
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            # a compute-only cluster: no web app, job queue, datasets, models or discovery, so it
            # neither touches the user's state directory (their queued jobs, their deployments)
            # nor answers on the discovery port
            services=(),
        )
        head.start()
        self.head, self.cluster_manager = head, head.cluster_manager
        self.address = head.scheduler_address
        n_workers = self._n_workers or os.cpu_count() or 1
        self._expected_threads = n_workers * self._threads

        # Nothing waits for the workers here (as LocalCluster does): most of their start is each
        # interpreter importing Dask (~0.4 CPU-s), which the caller's own code and the first
        # map's chunking and submission overlap; its tasks wait at the scheduler for a worker.
        # What keeps a worker from starting is raised by the first call that needs the workers.
        def add_workers() -> object:
            added = head.cluster_manager.add_worker(
                n_workers=n_workers,
                threads_per_worker=self._threads,
                timeout=head.settings.cluster.worker_start_timeout,
                dask_config=LOCAL_WORKER_DASK_CONFIG,
            )
            self.workers_joined_at = time.perf_counter()
            return added

        self.workers_joined_at = None
        self._joining = _in_background(add_workers)

    def _stop(self) -> None:
        joining, self._joining = self._joining, None
        if joining is not None:
            # let the start finish first (add_worker's timeout bounds it): processes it had not
            # registered yet would miss the shutdown and look for a scheduler that is gone
            joining.exception()
        if self.head is not None:
            self.head.shutdown()  # ours: the scheduler, the web app and the workers
            self.address = None
        elif self.cluster_manager is not None:
            self.cluster_manager.shutdown()  # attached: closes our client only
        self.head = self.cluster_manager = None
        self._counted_at = float("-inf")

    def _count_workers(self) -> int:
        # a scheduler round trip (~1 ms): asked at most once a second, workers come and go slowly
        joining = self._joining
        if joining is not None and not joining.done():
            return max(1, self._expected_threads)  # the chunks are planned for the workers on their way
        now = time.monotonic()
        if now - self._counted_at > WORKER_COUNT_TTL:
            self._worker_count = max(1, sum(self.client.nthreads().values()))
            self._counted_at = now
        return self._worker_count

    def run_chunks(self, payloads: Iterable[bytes], stream: bool = False) -> Iterator[tuple[int, bytes]]:
        client = self._client()
        futures: list[Any] = []
        try:
            # one message for all chunks, so every worker starts at once: the client sends its
            # messages at most every 10 ms, and chunk-by-chunk submits waited for that in turn
            futures = client.map(run_chunk, list(payloads), pure=False)
            self._wait_for_workers()  # submitted first: the chunks wait at the scheduler meanwhile
            if stream:
                yield from _as_completed(client, futures)
            else:
                answers = client.gather(futures)  # one round trip for all answers
                _release_later(client, futures)
                futures = []
                yield from enumerate(answers)
        finally:
            unfinished = [f for f in futures if not f.done()]
            if unfinished:
                client.cancel(unfinished)


def _in_background(start: Callable[[], object]) -> Future[object]:
    """Run ``start`` on a thread of its own; its result or exception, in a future."""
    future: Future[object] = Future()

    def run() -> None:
        try:
            future.set_result(start())
        except BaseException as exc:  # handed to whoever waits for the workers
            future.set_exception(exc)

    threading.Thread(target=run, name="pycluster-dask-workers-start", daemon=True).start()
    return future


def _release_later(client: Client, futures: list[Any]) -> None:
    """Free the workers' copies of these answers a little later, off the next call's path.

    Released now, the message would start the client's 10 ms send interval, and a call that
    follows at once (a genetic optimizer breeds for a millisecond between generations) would
    wait for it with every worker idle: ~9 ms a generation, measured.
    """
    loop = client.loop
    if loop is None:  # a closed client: nothing left to release them for
        return
    held = list(futures)
    loop.add_callback(lambda: loop.call_later(RELEASE_DELAY, held.clear))


def _as_completed(client: Client, futures: list[Any]) -> Iterator[tuple[int, bytes]]:
    from distributed import as_completed

    index = {future: i for i, future in enumerate(futures)}
    # the client's own loop: it is not the default client (set_as_default=False);
    # chunks that finished together come back in one gather
    for batch in as_completed(futures, loop=client.loop).batches():
        for future, answer in zip(batch, client.gather(batch)):
            yield index[future], answer
            future.release()  # the answer is held here now; free the worker's copy
