"""The worker side of a chunk: call the function on each item, keep every outcome.

One chunk is one task on any backend. It travels as *one pickled bytes object*
each way, because Dask walks list results element by element
(dask/distributed#6368) and opaque bytes move fast on every backend.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle
from tblib import pickling_support

from ..errors import SerializationError

__all__ = ["Outcome", "decode_outcome", "encode_payload", "run_chunk"]

# (results in item order, {index in chunk: exception}, seconds spent calling the function)
Outcome = tuple[list[Any], dict[int, BaseException], float]


def encode_payload(func_bytes: bytes, star: bool, items: Sequence[Any]) -> bytes:
    """The bytes a worker needs for one chunk (the function is pickled once, by the caller)."""
    return cloudpickle.dumps((func_bytes, star, list(items)))


def run_chunk(payload: bytes) -> bytes:
    """Run one chunk; never raises for an item's error (it is part of the outcome)."""
    func_bytes, star, items = cloudpickle.loads(payload)
    func = cloudpickle.loads(func_bytes)
    started = time.perf_counter()
    results, errors = _call_each(func, items, star)
    busy = time.perf_counter() - started
    return _dump_outcome(results, errors, busy)


def decode_outcome(data: bytes) -> Outcome:
    """The caller side of ``run_chunk``'s answer."""
    results, errors, busy = cloudpickle.loads(data)
    return results, errors, busy


def _call_each(
    func: Callable[..., Any], items: list[Any], star: bool
) -> tuple[list[Any], dict[int, BaseException]]:
    results: list[Any] = []
    errors: dict[int, BaseException] = {}
    remaining = iter(items)
    while True:
        try:
            # map/starmap iterate in C, the fast path for millions of tiny items (as fast as a
            # list comprehension); extend keeps what came before an error, and the error leaves
            # `remaining` just past the failing item, so the next pass resumes there
            results.extend(itertools.starmap(func, remaining) if star else map(func, remaining))
            return results, errors
        except Exception as exc:
            pickling_support.install(exc)  # the remote traceback survives the trip back
            errors[len(results)] = exc
            results.append(None)


def _dump_outcome(results: list[Any], errors: dict[int, BaseException], busy: float) -> bytes:
    try:
        return cloudpickle.dumps((results, errors, busy))
    except Exception:
        # rare path: find what cannot travel and turn it into that item's error
        for index, value in enumerate(results):
            if index not in errors and not _travels(value):
                results[index] = None
                errors[index] = SerializationError(
                    f"the result of this item ({type(value).__name__}) cannot be pickled to "
                    "return it from the worker; return plain data instead"
                )
        for index, exc in list(errors.items()):
            if not _travels(exc):
                errors[index] = SerializationError(
                    f"this item raised {type(exc).__name__}: {exc}, and that exception "
                    "cannot be pickled to return it from the worker"
                )
        return cloudpickle.dumps((results, errors, busy))


def _travels(value: Any) -> bool:
    try:
        cloudpickle.loads(cloudpickle.dumps(value))
    except Exception:
        return False
    return True
