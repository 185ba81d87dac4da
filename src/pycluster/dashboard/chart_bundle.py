"""uPlot, the dashboard's and the reports' chart library, vendored in ``web/static/vendor``.

The files ship inside the package (package data), so charts work on an air-gapped cluster and
in a report opened offline: no CDN, no extra dependency. Version and source: vendor/README.md.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["uplot_css", "uplot_js"]

_VENDOR = ("pycluster.web.static", "vendor")


def _read(name: str) -> str:
    return resources.files(_VENDOR[0]).joinpath(_VENDOR[1]).joinpath(name).read_text("utf-8")


@functools.lru_cache(maxsize=1)
def uplot_js() -> str:
    """The minified uPlot source (a classic script that defines ``window.uPlot``)."""
    return _read("uPlot.iife.min.js")


@functools.lru_cache(maxsize=1)
def uplot_css() -> str:
    """uPlot's stylesheet (its legend and cursor)."""
    return _read("uPlot.min.css")
