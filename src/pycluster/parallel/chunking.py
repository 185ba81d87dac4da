"""How items are cut into chunks (one task each), and chunks into bytes with clear errors.

Per-task overhead is ~0.1 ms on a process pool, ~1 ms on Ray and milliseconds on
Dask, so many tiny items must share a task; a few expensive items should not, or
one worker ends up with the long tail. ``plan_chunks`` sends small inputs one item
per task, cuts medium inputs into about four chunks per worker (as
``multiprocessing.Pool.map`` does) and large inputs into as few as the backend's
overhead calls for.

When an earlier call of the same function measured its cost per item (a genetic
optimizer maps its fitness function once per generation), expensive items go in
chunks just big enough to dwarf the backend's per-task overhead: finer balance.

Chunks are *strided*: chunk j holds items j, j + C, j + 2C... (C chunks in all), so
when cost grows along the list (sorted files, a parameter sweep) every chunk gets
its share of cheap and dear items, and few chunks still balance. An automatic plan
gives every worker the same number of chunks, so none is left running one more at the end.

>>> plan_chunks(200_000, 2, None, large_chunks_per_worker=1).n_chunks
2
>>> plan_chunks(16, 2, None, large_chunks_per_worker=1).n_chunks
16
>>> plan_chunks(10, 2, chunksize=3, large_chunks_per_worker=1).items_of(0)
slice(0, None, 4)
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..errors import ConfigError, SerializationError
from .runner import encode_payload

__all__ = ["ChunkPlan", "check_chunksize", "iter_payloads", "pickle_function", "plan_chunks"]

# Up to this many items per worker, one item per task: tasks worth distributing are
# usually expensive (the product documentation says > 0.1 s), and balance matters more than overhead.
SMALL_INPUT_PER_WORKER = 16
# Medium inputs: about this many chunks per worker, as multiprocessing.Pool.map does,
# so a slow chunk or a busy core is evened out.
CHUNKS_PER_WORKER = 4
# From this many items per worker on, items are almost surely tiny and strided chunks
# of thousands of items balance by themselves: the backend's per-task overhead decides.
LARGE_INPUT_PER_WORKER = 10_000
# With a measured cost per item, a chunk carries this many times a task's overhead of work.
OVERHEAD_SHARE = 20
MAX_CHUNKS_PER_WORKER = 64


@dataclass(frozen=True)
class ChunkPlan:
    """``n_items`` items in ``n_chunks`` strided chunks."""

    n_items: int
    n_chunks: int

    def items_of(self, chunk: int) -> slice:
        """The slice of the items (and of the results) that belong to ``chunk``."""
        return slice(chunk, None, self.n_chunks)

    def item_index(self, chunk: int, position: int) -> int:
        """The index in the whole input of item ``position`` of ``chunk``."""
        return chunk + position * self.n_chunks


def plan_chunks(
    n_items: int,
    n_workers: int,
    chunksize: int | None,
    large_chunks_per_worker: int,
    item_seconds: float | None = None,
    task_overhead: float = 0.0,
) -> ChunkPlan:
    """Chunks of about ``chunksize`` items, or an automatic plan when it is None.

    ``item_seconds``, when known (measured on an earlier call of the same function),
    lets expensive items go in smaller chunks: just enough items that a task's
    ``task_overhead`` stays a small share of it, for the finest balance.
    """
    if chunksize is not None:
        return ChunkPlan(n_items, max(1, math.ceil(n_items / chunksize)))
    workers = max(1, n_workers)
    chunksize = _auto_chunksize(n_items, workers, large_chunks_per_worker)
    if item_seconds:
        worth_a_task = math.ceil(OVERHEAD_SHARE * task_overhead / item_seconds)
        # a cost measured on other items may be wrong here: never more than this many tasks
        at_least = math.ceil(n_items / (workers * MAX_CHUNKS_PER_WORKER))
        chunksize = max(1, at_least, min(chunksize, worth_a_task))
    return ChunkPlan(n_items, _whole_rounds(math.ceil(n_items / chunksize), n_items, workers))


def _whole_rounds(n_chunks: int, n_items: int, workers: int) -> int:
    """``n_chunks`` rounded up to a multiple of ``workers`` (as items allow).

    33 chunks of 60 ms on 2 workers leave one idle for the last 60 ms; 34 slightly smaller
    ones end together (strided chunks differ by one item at most, the smaller ones last).
    """
    if n_chunks <= workers:
        return max(1, n_chunks)
    return min(n_items, math.ceil(n_chunks / workers) * workers)


def _auto_chunksize(n_items: int, workers: int, large_chunks_per_worker: int) -> int:
    per_worker = n_items / workers
    if per_worker <= SMALL_INPUT_PER_WORKER:
        return 1
    chunks = CHUNKS_PER_WORKER if per_worker < LARGE_INPUT_PER_WORKER else large_chunks_per_worker
    return math.ceil(n_items / (workers * chunks))


def check_chunksize(chunksize: int | None) -> int | None:
    """``chunksize`` if it is None or a whole number >= 1; ConfigError otherwise."""
    if chunksize is None:
        return None
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise ConfigError(f"chunksize must be a whole number >= 1 or None (automatic), got {chunksize!r}")
    return chunksize


def pickle_function(func: Callable[..., Any]) -> bytes:
    """``func`` as bytes, once per call; lambdas and closures travel by value."""
    if not callable(func):
        raise TypeError(f"expected a function to call on each item, got {type(func).__name__}")
    try:
        return cloudpickle.dumps(func)
    except Exception as exc:
        name = getattr(func, "__qualname__", repr(func))
        raise SerializationError(
            f"the function {name} cannot be pickled to send it to the workers ({exc}); "
            "what it captures must be picklable too (not a lock, an open file or a "
            "connection): create such objects inside the function instead"
        ) from exc


def iter_payloads(func_bytes: bytes, items: Sequence[Any], plan: ChunkPlan, star: bool) -> Iterator[bytes]:
    """One payload per chunk, made lazily so the first chunks run while later ones are pickled."""
    for chunk in range(plan.n_chunks):
        chunk_items = items[plan.items_of(chunk)]
        try:
            payload = encode_payload(func_bytes, star, chunk_items)
        except Exception as exc:
            raise _unpicklable_item(chunk_items, plan, chunk, exc) from exc
        yield payload


def _unpicklable_item(
    chunk_items: Sequence[Any], plan: ChunkPlan, chunk: int, error: Exception
) -> SerializationError:
    for position, item in enumerate(chunk_items):
        try:
            cloudpickle.dumps(item)
        except Exception as exc:
            return SerializationError(
                f"item {plan.item_index(chunk, position)} ({reprlib.repr(item)}) cannot be pickled "
                f"to send it to a worker ({exc}); pass plain data (a path, numbers, a dict) and "
                "build the object inside the function"
            )
    return SerializationError(f"the items of chunk {chunk} cannot be pickled: {error}")
