"""The dashboard from Python and offline: ``DashboardManager`` (an HTTP client of a running
head's dashboard), the standalone HTML report, and uPlot's files (vendored in ``web/static/vendor``)
that the report inlines. The dashboard's own page and scripts are served from ``web/static``.
"""

from __future__ import annotations

from .client import DashboardManager

__all__ = ["DashboardManager"]
