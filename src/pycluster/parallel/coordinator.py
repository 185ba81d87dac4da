"""DistributedCoordinator: map, reduce and batches over the current backend.

>>> coordinator = DistributedCoordinator()  # doctest: +SKIP
>>> coordinator.map(lambda x: x**2, range(5))  # doctest: +SKIP
[0, 1, 4, 9, 16]
>>> coordinator.reduce(lambda x: x**2, [1, 2, 3, 4, 5], lambda a, b: a + b, 0)  # doctest: +SKIP
55

Items are cut into chunks (one task each); every item of every chunk is run even
when some raise. If any item raised, the lowest-indexed one's exception is raised
again in the caller with its own type and remote traceback, a note naming the
item, and a ``TaskError`` as ``__cause__`` holding every other item's result.
"""

from __future__ import annotations

import functools
import hashlib
import reprlib
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TaskError
from ..progress import Progress
from .backends import Backend, BackendSpec, resolve_backend
from .chunking import ChunkPlan, check_chunksize, iter_payloads, pickle_function, plan_chunks
from .runner import decode_outcome

__all__ = ["DistributedCoordinator"]


@dataclass
class _Totals:
    tasks: int = 0
    failed: int = 0
    wall: float = 0.0
    busy: float = 0.0


class _ItemCosts:
    """Seconds per item measured for the last few functions, keyed by their pickled bytes."""

    KEEP = 32

    def __init__(self) -> None:
        self._seconds: dict[bytes, float] = {}

    def get(self, func_bytes: bytes) -> float | None:
        return self._seconds.get(_digest(func_bytes))

    def record(self, func_bytes: bytes, seconds: float) -> None:
        key = _digest(func_bytes)
        self._seconds.pop(key, None)
        self._seconds[key] = seconds
        if len(self._seconds) > self.KEEP:
            del self._seconds[next(iter(self._seconds))]  # the oldest


def _digest(func_bytes: bytes) -> bytes:
    return hashlib.blake2b(func_bytes, digest_size=16).digest()


class DistributedCoordinator:
    """Spreads work over a backend: the current one (``set_backend``) when ``backend`` is None.

    ``backend`` may also be a backend object, or a ``BackendType`` / name, in which
    case the coordinator starts its own backend and ``close()`` stops it.
    ``verbose=True`` shows progress with rate and ETA on stderr (:mod:`pycluster.progress`: a bar
    on a terminal or in Jupyter, plain lines in a log).
    """

    def __init__(self, backend: BackendSpec = None, verbose: bool = False) -> None:
        self._backend: Backend | None = None  # None: whichever backend is current at each call
        self._owns_backend = False
        if backend is not None:
            self._backend, self._owns_backend = resolve_backend(backend)
        self.verbose = verbose
        self._totals = _Totals()
        self._item_costs = _ItemCosts()

    @property
    def backend(self) -> Backend:
        """The backend calls run on now (the current one when none was given)."""
        return self._backend if self._backend is not None else resolve_backend(None)[0]

    # ------------------------------------------------------------------ work
    def map(
        self,
        func: Callable[[Any], Any],
        items: Iterable[Any],
        chunksize: int | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """``[func(item) for item in items]``, computed in parallel; results in order.

        ``items`` may be any iterable (a generator is read to the end first).
        ``chunksize`` is items per task; None picks one (see ``chunking.plan_chunks``).
        With ``return_exceptions=True`` a failing item's exception takes its place in
        the list instead of being raised.
        """
        return self._run(func, items, chunksize, star=False, label="map", return_exceptions=return_exceptions)

    def reduce(
        self,
        func: Callable[[Any], Any],
        items: Iterable[Any],
        reducer: Callable[[Any, Any], Any],
        initial: Any = None,
    ) -> Any:
        """Map ``func`` in parallel, then fold the results with ``reducer`` here, left to right.

        The fold runs in the caller, in item order, so ``reducer`` needs not be associative.
        ``initial=None`` means no initial value (as in ``functools.reduce``).
        """
        values = self.map(func, items)
        if initial is not None:
            return functools.reduce(reducer, values, initial)
        if not values:
            raise TypeError("reduce() of no items needs an initial value: pass initial=")
        return functools.reduce(reducer, values)

    def submit_batch(
        self,
        func: Callable[..., Any],
        args_list: Iterable[Any],
        chunksize: int | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """``[func(*args) for args in args_list]`` in parallel, results in order.

        A tuple is unpacked into positional arguments; anything else is passed as the
        one argument.
        """
        arg_tuples = [args if isinstance(args, tuple) else (args,) for args in args_list]
        return self._run(
            func, arg_tuples, chunksize, star=True, label="submit_batch", return_exceptions=return_exceptions
        )

    # ------------------------------------------------------------------ stats
    def get_stats(self) -> dict[str, Any]:
        """Totals since creation (or ``reset_stats``).

        ``tasks_completed`` counts items run (failed ones too, also in ``tasks_failed``);
        ``total_time`` is wall time inside calls; ``throughput`` items per second of it;
        ``avg_task_time`` the mean time a worker spent on one item.
        """
        t = self._totals
        backend = self.backend
        return {
            "tasks_completed": t.tasks,
            "tasks_failed": t.failed,
            "total_time": t.wall,
            "throughput": t.tasks / t.wall if t.wall else 0.0,
            "avg_task_time": t.busy / t.tasks if t.tasks else 0.0,
            "num_workers": backend.num_workers(),
            "backend": backend.name,
        }

    def reset_stats(self) -> None:
        self._totals = _Totals()

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Shut down the backend this coordinator started (never a shared one)."""
        if self._owns_backend and self._backend is not None:
            self._backend.shutdown()

    def __enter__(self) -> DistributedCoordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _run(
        self,
        func: Callable[..., Any],
        items: Iterable[Any],
        chunksize: int | None,
        star: bool,
        label: str,
        return_exceptions: bool,
    ) -> list[Any]:
        items = items if isinstance(items, Sequence) else list(items)
        chunksize = check_chunksize(chunksize)
        func_bytes = pickle_function(func)
        if not items:
            return []
        backend = self.backend
        backend.ensure_running()
        plan = plan_chunks(
            len(items),
            backend.num_workers(),
            chunksize,
            backend.large_chunks_per_worker,
            self._item_costs.get(func_bytes),
            backend.task_overhead,
        )
        started = time.perf_counter()
        results, errors, busy = self._collect(
            backend, iter_payloads(func_bytes, items, plan, star), plan, label
        )
        self._item_costs.record(func_bytes, busy / len(items))
        self._record(len(items), len(errors), time.perf_counter() - started, busy)
        if errors:
            _settle_errors(results, errors, items, label, return_exceptions)
        return results

    def _collect(
        self, backend: Backend, payloads: Iterable[bytes], plan: ChunkPlan, label: str
    ) -> tuple[list[Any], dict[int, BaseException], float]:
        results: list[Any] = [None] * plan.n_items
        errors: dict[int, BaseException] = {}
        busy = 0.0
        progress = Progress(plan.n_items, label, unit="item") if self.verbose else None
        try:
            for chunk, answer in backend.run_chunks(payloads, stream=progress is not None):
                chunk_results, chunk_errors, chunk_busy = decode_outcome(answer)
                results[plan.items_of(chunk)] = chunk_results
                errors.update({plan.item_index(chunk, i): exc for i, exc in chunk_errors.items()})
                busy += chunk_busy
                if progress:
                    progress.update(len(chunk_results))
        finally:
            if progress:
                progress.close()
        return results, errors, busy

    def _record(self, tasks: int, failed: int, wall: float, busy: float) -> None:
        t = self._totals
        t.tasks, t.failed, t.wall, t.busy = t.tasks + tasks, t.failed + failed, t.wall + wall, t.busy + busy


def _settle_errors(
    results: list[Any], errors: dict[int, BaseException], items: Sequence[Any], label: str, keep: bool
) -> None:
    """Put each exception in its item's place; unless ``keep``, raise the first one."""
    for index, exc in errors.items():
        results[index] = exc
    if keep:
        return
    first = min(errors)
    failure = TaskError(first, items[first], list(results), dict(errors))
    exc = errors[first]
    _add_note(
        exc,
        f"pycluster: raised by item {first} ({reprlib.repr(items[first])}) of {label}(); "
        f"{len(errors)} of {len(results)} items failed; every outcome is in .__cause__.results",
    )
    raise exc from failure


def _add_note(exc: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # 3.10 has no add_note; the attribute is what 3.11 tracebacks print
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
