"""Backends the coordinator runs on: multiprocessing (loky), Dask and Ray."""

from __future__ import annotations

from .base import Backend, BackendState, BackendType
from .registry import BackendSpec, create_backend, get_backend, resolve_backend, set_backend

__all__ = [
    "Backend",
    "BackendSpec",
    "BackendState",
    "BackendType",
    "create_backend",
    "get_backend",
    "resolve_backend",
    "set_backend",
]
