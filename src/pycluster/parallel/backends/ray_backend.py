"""The Ray backend: attach to a Ray cluster, or start a local Ray on loopback.

Ray is an optional extra (``pip install "pycluster[ray]"``), imported only here.
A local Ray stays on 127.0.0.1: passing that as the node address is not enough
(Ray swaps in the machine's own IP), so ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
is also set before Ray is imported, unless the environment says otherwise.

>>> with RayBackend(num_cpus=2) as backend:  # doctest: +SKIP
...     backend.num_workers()
2
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ...errors import MissingDependencyError
from ..runner import run_chunk
from .base import Backend, BackendType, check_worker_count

__all__ = ["RayBackend", "import_ray"]

logger = logging.getLogger(__name__)

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
WORKER_COUNT_TTL = 1.0  # seconds


def import_ray(loopback: bool = False) -> Any:
    """The ``ray`` module, or MissingDependencyError naming the ``ray`` extra."""
    if loopback and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when Ray is first imported
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray", "The Ray backend (BackendType.RAY)") from exc
    return ray


class RayBackend(Backend):
    """Chunks run as Ray tasks.

    ``address`` ("ray://HOST:10001" or "auto") attaches; otherwise a local Ray with
    ``num_cpus`` CPUs starts on 127.0.0.1. Other keyword arguments go to ``ray.init``.
    If Ray is already initialized in this process, the backend uses that session
    and leaves it running on shutdown.
    """

    backend_type = BackendType.RAY
    # a task costs ~1 ms here: one strided chunk per CPU measured fastest for tiny items
    large_chunks_per_worker = 1
    task_overhead = 0.001  # DESIGN.md: ~1,070 single-item tasks/s

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        num_workers: int | None = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self.address = address
        self._num_cpus = check_worker_count(num_cpus or num_workers, "num_cpus")
        self._init_kwargs = init_kwargs
        self._owns_session = False
        self._remote: Any = None
        self._cpu_count = 1
        self._counted_at = float("-inf")

    def _start(self) -> None:
        ray = import_ray(loopback=self.address is None)
        if ray.is_initialized():
            self._owns_session = False  # the caller's own session: not ours to end
        else:
            if self.address is None:
                _warn_unless_loopback()
            with _import_path_for_workers(self.address is None and "runtime_env" not in self._init_kwargs):
                ray.init(**self._init_arguments())
            self._owns_session = True
        self._remote = ray.remote(run_chunk)

    def _init_arguments(self) -> dict[str, Any]:
        quiet: dict[str, Any] = {"logging_level": logging.WARNING}
        if self.address:
            return {**quiet, "address": self.address, **self._init_kwargs}
        local = {
            "num_cpus": self._num_cpus,
            "include_dashboard": False,
            "_node_ip_address": "127.0.0.1",
        }
        return {**quiet, **local, **self._init_kwargs}

    def _stop(self) -> None:
        if self._owns_session:
            import ray

            ray.shutdown()  # a local Ray stops; an attached cluster only loses this driver
        self._remote = None
        self._counted_at = float("-inf")

    def _count_workers(self) -> int:
        import ray

        # a round trip to Ray's GCS (~1 ms): asked at most once a second, nodes come and go slowly
        now = time.monotonic()
        if now - self._counted_at > WORKER_COUNT_TTL:
            self._cpu_count = max(1, int(ray.cluster_resources().get("CPU", 1)))
            self._counted_at = now
        return self._cpu_count

    def run_chunks(self, payloads: Iterable[bytes], stream: bool = False) -> Iterator[tuple[int, bytes]]:
        import ray

        self.ensure_running()
        refs: list[Any] = []
        pending: list[Any] = []
        try:
            for payload in payloads:  # a loop, so a payload that fails to pickle leaves `refs` to cancel
                refs.append(self._remote.remote(payload))
            if not stream:
                answers = ray.get(refs)  # blocks in Ray's core worker: no polling here
                refs = []  # all finished: nothing to cancel, no round trip to ask
                yield from enumerate(answers)
                return
            index = {ref: i for i, ref in enumerate(refs)}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                if pending:  # collect whatever else is ready in the same pass
                    more, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
                    done += more
                for ref, answer in zip(done, ray.get(done)):
                    yield index[ref], answer
            refs = []
        finally:
            _cancel_unfinished(refs)


@contextlib.contextmanager
def _import_path_for_workers(wanted: bool) -> Iterator[None]:
    """``PYTHONPATH`` = this process's import path while a local Ray starts, then as it was.

    Like the Dask backend's local workers, Ray's then import functions and classes from
    modules beside the caller, not only the script's folder: Ray's processes inherit this
    environment. Not a ``runtime_env``: with one, Ray set the environment up for each worker
    lease and started workers of its own for it, measured ~1 s and ~0.7 CPU-seconds on
    the first map of every session (benchmarks/parallel.py).
    """
    if not wanted:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _cancel_unfinished(refs: list[Any]) -> None:
    import ray

    if refs:
        _, unfinished = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in unfinished:
            ray.cancel(ref)


def _warn_unless_loopback() -> None:
    try:
        from ray._private import ray_constants  # private: only to explain, never to decide

        off_loopback = bool(ray_constants.ENABLE_RAY_CLUSTER)
    except Exception:
        return
    if off_loopback:
        logger.warning(
            "Ray was imported before pycluster started it, so the local Ray may listen on this "
            "machine's network address and not only on 127.0.0.1; set %s=0 in the environment "
            "before importing ray to keep it on loopback",
            LOOPBACK_ENV,
        )
