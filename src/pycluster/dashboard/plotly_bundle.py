"""plotly.js as shipped inside the ``plotly`` wheel: the dashboard's and the reports' charts.

Found on disk without importing plotly (importing it is slow and not needed to serve a file).
No CDN is ever used, so charts work on an air-gapped cluster.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import MissingDependencyError

__all__ = ["plotly_js", "plotly_js_path"]


def plotly_js_path() -> Path | None:
    """``plotly/package_data/plotly.min.js`` of the installed plotly, or None without plotly."""
    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


def plotly_js() -> str:
    """The plotly.js source; MissingDependencyError (naming the package) without plotly."""
    path = plotly_js_path()
    if path is None:
        raise MissingDependencyError("plotly", "dashboard", "drawing dashboard charts")
    return path.read_text(encoding="utf-8")
