"""How many items go in one task, and turning a chunk into bytes with clear errors.

Per-task overhead is ~0.1 ms on a process pool and milliseconds on Dask, so many
tiny items must share a task; a few expensive items should not, or one worker ends
up with the long tail. ``auto_chunksize`` does what ``multiprocessing.Pool.map``
does for large inputs (about four chunks per worker) and sends small inputs one
item per task.

>>> auto_chunksize(200_000, 2)
25000
>>> auto_chunksize(16, 2)
1
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cloudpickle

from ..errors import ConfigError, SerializationError
from .runner import encode_payload

__all__ = ["auto_chunksize", "check_chunksize", "iter_payloads", "pickle_function"]

# Up to this many items per worker, one item per task: tasks worth distributing are
# usually expensive (the seed document says > 0.1 s), and balance matters more than overhead.
SMALL_INPUT_PER_WORKER = 16
# Beyond that, about this many chunks per worker, as multiprocessing.Pool.map does:
# few enough to be cheap, enough to even out a slow chunk.
CHUNKS_PER_WORKER = 4


def auto_chunksize(n_items: int, n_workers: int) -> int:
    """Items per task for ``n_items`` spread over ``n_workers`` parallel slots."""
    workers = max(1, n_workers)
    if n_items <= SMALL_INPUT_PER_WORKER * workers:
        return 1
    return math.ceil(n_items / (workers * CHUNKS_PER_WORKER))


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


def iter_payloads(func_bytes: bytes, items: Sequence[Any], chunksize: int, star: bool) -> Iterator[bytes]:
    """One payload per chunk, made lazily so the first chunks run while later ones are pickled."""
    for start in range(0, len(items), chunksize):
        chunk = items[start : start + chunksize]
        try:
            payload = encode_payload(func_bytes, star, chunk)
        except Exception as exc:
            raise _unpicklable_item(chunk, start, exc) from exc
        yield payload


def _unpicklable_item(chunk: Sequence[Any], start: int, error: Exception) -> SerializationError:
    for offset, item in enumerate(chunk):
        try:
            cloudpickle.dumps(item)
        except Exception as exc:
            return SerializationError(
                f"item {start + offset} ({reprlib.repr(item)}) cannot be pickled to send it to a worker "
                f"({exc}); pass plain data (a path, numbers, a dict) and build the object "
                "inside the function"
            )
    return SerializationError(f"items {start}..{start + len(chunk) - 1} cannot be pickled: {error}")
