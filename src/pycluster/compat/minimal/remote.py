"""What runs on a worker for ``MasterNode.execute()``: the envir, once per process, and a chunk of calls.

Each chunk travels as one pickled bytes object each way (Dask handles list results
element by element; one opaque object is ~50x faster, see cluster/batching.py).
"""

from __future__ import annotations

import builtins
import hashlib
import pickle
import threading
import traceback
from collections.abc import Callable
from typing import Any

import cloudpickle

__all__ = ["chunk_payload", "envir_digest", "run_chunk"]

# envir digest -> the namespace its statements built; one exec per worker process per envir
_NAMESPACES: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def envir_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def chunk_payload(source: str, target: str, items: list[Any]) -> bytes:
    """What the master sends for one chunk: the envir (small), the target's name, the arguments."""
    return cloudpickle.dumps((envir_digest(source), source, target, items), protocol=pickle.HIGHEST_PROTOCOL)


def _namespace(digest: str, source: str) -> dict[str, Any]:
    with _LOCK:
        if digest not in _NAMESPACES:
            namespace: dict[str, Any] = {"__name__": "__minimal_envir__", "__builtins__": builtins}
            exec(compile(source, "<minimalcluster envir>", "exec"), namespace)
            _NAMESPACES[digest] = namespace
        return _NAMESPACES[digest]


def _target(digest: str, source: str, name: str) -> Callable[[Any], Any]:
    func: object = _namespace(digest, source).get(name)
    if not callable(func):
        raise NameError(f"the envir does not define a function named {name!r}")
    return func


def run_chunk(payload: bytes) -> bytes:
    """Call the target on each argument; stop at the first failure and say which and why.

    Returns pickled ``("ok", results)``, ``("failed", index, error, traceback_text)`` or
    ``("envir", None, error, traceback_text)`` when the envir itself cannot be set up.
    """
    digest, source, name, items = pickle.loads(payload)
    try:
        func = _target(digest, source, name)
    except Exception as exc:
        return _failure("envir", None, exc)
    results: list[Any] = []
    append = results.append
    try:
        for arg in items:  # the try outside the loop: no per-item bookkeeping
            append(func(arg))
    except Exception as exc:
        return _failure("failed", len(results), exc)  # every earlier call succeeded
    return cloudpickle.dumps(("ok", results), protocol=pickle.HIGHEST_PROTOCOL)


def _failure(kind: str, index: int | None, exc: Exception) -> bytes:
    text = "".join(traceback.format_exception(exc))
    try:
        return cloudpickle.dumps((kind, index, exc, text))
    except Exception:  # an exception that cannot travel: its text still does
        return cloudpickle.dumps((kind, index, None, text))
