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

    def check(self, path: str | os.PathLike[str]) -> Path:
        """The resolved path, or DataAccessError naming the roots (symlinks and '..' resolved first)."""
        real = Path(os.path.realpath(Path(path)))
        if any(real == root or root in real.parents for root in self.roots):
            return real
        allowed = ", ".join(str(r) for r in self.roots) or "none configured"
        given = Path(os.path.abspath(Path(path)))
        where = f"{path} (which leads to {real})" if given != real else str(path)
        raise DataAccessError(
            f"{where} is outside the data roots ({allowed}); put the data there, or start the head "
            "with --data-root PATH (PYCLUSTER_DATA_ROOTS) to allow another folder"
        )

    def check_all(self, paths: Iterable[Path]) -> list[Path]:
        return [self.check(p) for p in paths]
