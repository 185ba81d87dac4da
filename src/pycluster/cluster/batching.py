"""Batched ``map_tasks``: many small items as a few Dask tasks.

Per-task overhead on Dask is milliseconds, and Dask walks list results element
by element (dask/distributed#6368), so each batch travels as *one pickled
bytes object* each way. Callers still get one future per item.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle
from distributed import Client, Future
from tblib import pickling_support

__all__ = ["BatchItemFuture", "auto_batch_size", "fill_batches", "gather_plan", "submit_batches"]

# Below this many items, one task per item: batching would only hurt load balance.
UNBATCHED_LIMIT = 64
# Aim for this many batches per worker thread: enough to balance, few enough to be cheap.
BATCHES_PER_THREAD = 4


def auto_batch_size(n_items: int, n_threads: int) -> int:
    """Items per task for ``n_items`` over ``n_threads`` threads (1 = no batching)."""
    if n_items <= UNBATCHED_LIMIT:
        return 1
    return max(1, math.ceil(n_items / (max(1, n_threads) * BATCHES_PER_THREAD)))


def _run_batch(payload: bytes) -> bytes:
    """Worker side: call the function on each item; keep each outcome, errors included."""
    func, kwargs, items = cloudpickle.loads(payload)
    outcomes: list[tuple[bool, Any]] = []
    for args in items:
        try:
            outcomes.append((True, func(*args, **kwargs)))
        except Exception as exc:
            pickling_support.install(exc)  # keep the remote traceback across pickling
            outcomes.append((False, exc))
    pickled: bytes = cloudpickle.dumps(outcomes)
    return pickled


class _Batch:
    """The Dask future of one batch and, once fetched, its unpickled outcomes."""

    def __init__(self, future: Future[bytes]) -> None:
        self.future = future
        self._outcomes: list[tuple[bool, Any]] | None = None
        self._lock = threading.Lock()

    @property
    def fetched(self) -> bool:
        """Whether the outcomes are held here (the Dask future is released then)."""
        return self._outcomes is not None

    def fetched_outcome(self, index: int) -> tuple[bool, Any] | None:
        """``(ok, value)`` of item ``index`` if the outcomes are held here, else None (no waiting)."""
        outcomes = self._outcomes
        return None if outcomes is None else outcomes[index]

    def fill(self, payload: bytes) -> None:
        """Outcomes fetched by someone else (``ClusterManager.gather``, all batches at once)."""
        with self._lock:
            if self._outcomes is None:
                self._outcomes = cloudpickle.loads(payload)
                self.future.release()

    def outcomes(self, timeout: float | None) -> list[tuple[bool, Any]]:
        with self._lock:
            if self._outcomes is None:
                self._outcomes = cloudpickle.loads(self.future.result(timeout=timeout))
                self.future.release()  # the bytes are held here now; free the worker's copy
            return self._outcomes


class BatchItemFuture:
    """The future of one item of a batched ``map_tasks`` call.

    Behaves like a Dask future for the common calls: ``result(timeout)``,
    ``exception(timeout)``, ``done()``, ``cancel()``, ``status``. Cancelling one
    item cancels its whole batch.
    """

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: _Batch, index: int) -> None:
        self._batch = batch
        self._index = index

    def result(self, timeout: float | None = None) -> Any:
        ok, value = self._batch.outcomes(timeout)[self._index]
        if ok:
            return value
        raise value.with_traceback(value.__traceback__)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        ok, value = self._batch.outcomes(timeout)[self._index]
        return None if ok else value

    def done(self) -> bool:
        return self._batch.fetched or self._batch.future.done()

    def cancel(self) -> None:
        self._batch.future.cancel()

    @property
    def status(self) -> str:
        outcome = self._batch.fetched_outcome(self._index)
        if outcome is not None:
            return "finished" if outcome[0] else "error"
        status = self._batch.future.status or "pending"  # None: not bound to a client yet
        return status if status != "finished" else ("finished" if self.exception() is None else "error")

    @property
    def key(self) -> str:
        return f"{self._batch.future.key}[{self._index}]"

    @property
    def batch_future(self) -> Future[bytes]:
        """The Dask future of this item's whole batch (shared with the batch's other items)."""
        return self._batch.future

    @property
    def fetched(self) -> bool:
        """Whether the batch's outcomes are held here already (nothing left to fetch)."""
        return self._batch.fetched

    def fill(self, payload: bytes) -> None:
        """Hand over the batch's payload fetched by someone else (one ``Client.gather`` for many)."""
        self._batch.fill(payload)

    def __repr__(self) -> str:
        return f"<BatchItemFuture {self.key} status={self.status}>"


def submit_batches(
    client: Client,
    func: Callable[..., Any],
    arg_tuples: Sequence[tuple[Any, ...]],
    batch_size: int,
    func_kwargs: dict[str, Any],
    dask_options: dict[str, Any],
) -> list[BatchItemFuture]:
    """Submit ``arg_tuples`` in batches of ``batch_size``; one future per item, in order."""
    item_futures: list[BatchItemFuture] = []
    for start in range(0, len(arg_tuples), batch_size):
        chunk = list(arg_tuples[start : start + batch_size])
        payload = cloudpickle.dumps((func, func_kwargs, chunk))
        batch = _Batch(client.submit(_run_batch, payload, pure=False, **dask_options))
        item_futures.extend(BatchItemFuture(batch, i) for i in range(len(chunk)))
    return item_futures


def gather_plan(futures: Sequence[Future[Any] | BatchItemFuture]) -> dict[Any, Future[Any]]:
    """The Dask futures to fetch for ``futures`` by key: each once, a batch's for its items."""
    plan: dict[Any, Future[Any]] = {}
    for f in futures:
        if isinstance(f, BatchItemFuture):
            if not f.fetched:
                plan.setdefault(f.batch_future.key, f.batch_future)
        else:
            plan.setdefault(f.key, f)
    return plan


def fill_batches(futures: Sequence[Future[Any] | BatchItemFuture], values: dict[Any, Any]) -> None:
    """Hand fetched payloads (``{key: bytes}``) to the batches of ``futures``."""
    for f in futures:
        if isinstance(f, BatchItemFuture) and f.batch_future.key in values:
            f.fill(values[f.batch_future.key])
