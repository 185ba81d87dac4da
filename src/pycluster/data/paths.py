"""Which files the cluster may read: the data roots, checked after resolving links and '..'."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import DataAccessError

__all__ = ["DataRoots"]


class DataRoots:
    """A set of folders; a path is allowed when its real location is inside one of them."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        self.roots = [Path(os.path.realpath(Path(r).expanduser())) for r in roots]

    def inside(self, path: str | os.PathLike[str]) -> Path | None:
        """The real path (links and '..' resolved, nothing opened) when it is inside a root."""
        real = Path(os.path.realpath(Path(path)))
        return real if any(real == root or root in real.parents for root in self.roots) else None

    def check(self, path: str | os.PathLike[str]) -> Path:
        """The resolved path, or DataAccessError naming the roots (symlinks and '..' resolved first).

        The refusal names only what the caller gave, never where a link leads, and it is the
        same whether anything exists there: nothing outside the roots is looked at."""
        real = self.inside(path)
        if real is not None:
            return real
        allowed = ", ".join(str(r) for r in self.roots) or "none configured"
        raise DataAccessError(
            f"{path} is outside the data roots ({allowed}); put the data there, or start the head "
            "with --data-root PATH (PYCLUSTER_DATA_ROOTS) to allow another folder"
        )

    def check_all(self, paths: Iterable[Path]) -> list[Path]:
        return [self.check(p) for p in paths]
