"""The process-wide current backend: ``set_backend`` and ``get_backend``.

>>> backend = set_backend(BackendType.MULTIPROCESSING, num_workers=2)  # doctest: +SKIP
>>> get_backend() is backend  # doctest: +SKIP
True
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from .base import Backend, BackendType

__all__ = [
    "BackendSpec",
    "create_backend",
    "current_backend",
    "get_backend",
    "resolve_backend",
    "set_backend",
]

# What a `backend=` argument may be: a backend, its type, its name, or None for the current one.
BackendSpec = Backend | BackendType | str | None

_lock = threading.Lock()
_current: Backend | None = None


def create_backend(backend_type: BackendType | str, **kwargs: Any) -> Backend:
    """A new, not yet started backend of ``backend_type`` (its keyword arguments in ``kwargs``)."""
    kind = BackendType.parse(backend_type)
    if kind is BackendType.DASK:
        from .dask_backend import DaskBackend

        return DaskBackend(**kwargs)
    if kind is BackendType.RAY:
        from .ray_backend import RayBackend

        return RayBackend(**kwargs)
    from .local import MultiprocessingBackend

    return MultiprocessingBackend(**kwargs)


def set_backend(
    backend_type: BackendType | str = BackendType.MULTIPROCESSING, initialize: bool = True, **kwargs: Any
) -> Backend:
    """Make a new backend the current one and return it; the previous one is shut down.

    ``kwargs`` go to the backend: ``num_workers`` (multiprocessing), ``address`` or
    ``n_workers`` (Dask), ``address`` or ``num_cpus`` (Ray).
    """
    global _current
    backend = create_backend(backend_type, **kwargs)
    if initialize:
        backend.initialize()  # before replacing: a backend that fails to start changes nothing
    with _lock:
        previous, _current = _current, backend
    if previous is not None:
        previous.shutdown()
    return backend


def get_backend() -> Backend:
    """The current backend; a multiprocessing one (every core) if none was set."""
    global _current
    with _lock:
        if _current is None:
            from .local import MultiprocessingBackend

            _current = MultiprocessingBackend()
        return _current


def current_backend() -> Backend | None:
    """The backend ``set_backend`` (or a first ``get_backend``) made current, or None."""
    with _lock:
        return _current


def resolve_backend(spec: BackendSpec, **kwargs: Any) -> tuple[Backend, bool]:
    """The backend a ``backend=`` argument names, and whether the caller made it (and must shut it down)."""
    if spec is None:
        return get_backend(), False
    if isinstance(spec, Backend):
        return spec, False
    return create_backend(spec, **kwargs), True


@atexit.register
def _shutdown_current() -> None:
    with _lock:
        backend = _current
    if backend is not None:
        backend.shutdown()
