"""Dask's ``dask.sizeof`` plugins: found once by a head, handed to each local worker it starts.

Importing Dask registers the ``dask.sizeof`` entry points, which means reading the entry
points of every installed distribution: ~14 ms of CPU with the ~150 of this project's
environment, in every worker process at start. A head's local workers run its interpreter
on its import path, so they would find what the head finds: the head looks once
(:func:`found`) and passes the answer in :data:`VARIABLE`; a worker imports Dask inside
:func:`handed_over`, where that one scan answers with the head's list (usually empty) and
each plugin on it is still loaded and registered by Dask, as without it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = ["GROUP", "VARIABLE", "found", "handed_over"]

GROUP = "dask.sizeof"
VARIABLE = "PYCLUSTER_DASK_SIZEOF_PLUGINS"


def _metadata() -> ModuleType:
    """The importlib.metadata Dask uses: the standard library's from 3.12, the backport before."""
    if sys.version_info >= (3, 12):
        import importlib.metadata as metadata
    else:
        import importlib_metadata as metadata
    return metadata


@functools.lru_cache(maxsize=1)
def found() -> str:
    """This environment's ``dask.sizeof`` entry points, for :data:`VARIABLE` (scanned once).

    A plugin installed while the head runs reaches its workers when the head starts again.
    """
    return json.dumps([[ep.name, ep.value] for ep in _metadata().entry_points(group=GROUP)])


@contextlib.contextmanager
def handed_over(text: str | None) -> Iterator[None]:
    """Import Dask in here: its ``dask.sizeof`` scan answers ``text`` (:func:`found`'s) instead.

    Nothing changes without ``text``, when Dask is imported already, or when ``text`` is
    unreadable (then Dask scans, as it always did); every other entry-point lookup scans.
    """
    plugins = _plugins(text) if text is not None and "dask.sizeof" not in sys.modules else None
    if plugins is None:
        yield
        return
    metadata = _metadata()
    scan = metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params == {"group": GROUP}:
            return metadata.EntryPoints(metadata.EntryPoint(name, value, GROUP) for name, value in plugins)
        return scan(**params)

    metadata.entry_points = entry_points  # type: ignore[attr-defined]
    try:
        yield
    finally:
        metadata.entry_points = scan  # type: ignore[attr-defined]


def _plugins(text: str) -> list[tuple[str, str]] | None:
    try:
        return [(str(name), str(value)) for name, value in json.loads(text)]
    except (ValueError, TypeError):
        return None
