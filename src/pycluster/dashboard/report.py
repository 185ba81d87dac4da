"""A dashboard report as one standalone HTML page: totals, charts, workers, jobs, alerts.

uPlot (vendored in the package) is inlined, so the file opens offline, anywhere. The page
is the Jinja2 template templates/report.html.j2, autoescaped: every value from the cluster
is text; chart data travels as JSON (``tojson``) in a non-executed
``<script type="application/json">`` block.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from ..units import format_bytes
from .chart_bundle import uplot_css, uplot_js

__all__ = ["render_html_report"]

_CHARTS = [
    ("Task throughput (tasks/s)", "chart-throughput"),
    ("CPU and memory", "chart-usage"),
    ("Network I/O", "chart-network"),
]


@dataclass(frozen=True)
class _Card:
    label: str
    value: Any
    sub: str = ""


@dataclass(frozen=True)
class _Table:
    title: str
    headers: list[str]
    rows: list[list[Any]]
    empty: str


@dataclass(frozen=True)
class _Failure:
    key: Any
    time: str
    error: Any


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pycluster.dashboard", "templates"),
        autoescape=True,  # every value is text unless marked Markup (only uPlot's files are)
        undefined=jinja2.StrictUndefined,  # a misspelled name fails here, not as an empty cell
        keep_trailing_newline=True,
    )
    # metric history can hold timestamps and the like: as text, as json.dumps(default=str) did
    environment.policies["json.dumps_kwargs"] = {"default": str, "sort_keys": False}
    return environment.get_template("report.html.j2")


def _v(value: Any) -> Any:
    return "-" if value is None else value


def _time(iso: Any) -> str:
    """``2026-01-02T10:00:00.123456Z`` -> ``2026-01-02 10:00:00 UTC`` (other values as they are)."""
    text = str(iso or "-")
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 and text[10] == "T" else text


def _card(label: str, value: Any, sub: str = "") -> _Card:
    return _Card(label, _v(value), sub)


def _table(title: str, headers: list[str], rows: list[list[Any]], empty: str) -> _Table:
    return _Table(title, headers, [[_v(v) for v in row] for row in rows], empty)


def _cards(report: dict[str, Any]) -> list[_Card]:
    c = report.get("cluster") or {}
    totals = (report.get("jobs") or {}).get("totals") or {}
    tasks = report.get("tasks") or {}
    cards = [
        _card("Health", (report.get("health") or {}).get("status")),
        _card("Workers", c.get("n_workers")),
        _card("Cores", c.get("total_cores")),
        _card("Memory", c.get("used_memory"), f"of {c.get('total_memory', '-')}"),
        _card("Tasks completed", tasks.get("completed")),
        _card("Tasks failed", tasks.get("failed_total")),
        _card("Jobs queued", (totals.get("queued") or 0) + (totals.get("pending") or 0)),
        _card("Jobs running", totals.get("running")),
    ]
    return cards


def _workers(report: dict[str, Any]) -> _Table:
    rows = [
        [
            w.get("name"),
            w.get("host"),
            w.get("status"),
            w.get("nthreads"),
            f"{float(w.get('cpu_percent') or 0):.0f}%",
            f"{format_bytes(w.get('memory_used') or 0)} / {format_bytes(w.get('memory_limit') or 0)}",
            w.get("tasks_executing"),
            ", ".join(f"{k}={v}" for k, v in (w.get("resources") or {}).items()) or "—",
        ]
        for w in report.get("workers") or []
    ]
    headers = ["Name", "Host", "Status", "Threads", "CPU", "Memory", "Executing", "Resources"]
    return _table("Workers", headers, rows, "No workers connected.")


def _jobs(report: dict[str, Any]) -> _Table:
    jobs = (report.get("jobs") or {}).get("jobs") or []
    keys = ("job_id", "operation", "priority", "status")
    rows = [[*(j.get(k) for k in keys), f"{j.get('progress', 0):.0f}%"] for j in jobs]
    return _table("Jobs", ["Job", "Operation", "Priority", "Status", "Progress"], rows, "No jobs.")


def _alerts(report: dict[str, Any]) -> _Table:
    recent = (report.get("alerts") or {}).get("recent") or []
    rows = [[_time(a.get("time")), a.get("level"), a.get("message")] for a in recent]
    return _table("Recent alerts", ["Time", "Level", "Alert"], rows, "No alerts.")


def _failures(report: dict[str, Any]) -> list[_Failure]:
    failures = (report.get("tasks") or {}).get("recent_failures") or []
    return [_Failure(_v(f.get("key")), _time(f.get("time")), _v(f.get("error"))) for f in failures]


def render_html_report(report: dict[str, Any]) -> str:
    """The report (``DashboardManager.generate_dashboard_report()``) as a standalone page."""
    c = report.get("cluster") or {}
    # uPlot is the one trusted piece of markup; "</script" ("</style") inside it would end its element
    library = Markup(uplot_js().replace("</script", "<\\/script"))
    library_css = Markup(uplot_css().replace("</style", "<\\/style"))
    return _template().render(
        name=c.get("cluster_name") or "pycluster",
        generated=_time(report.get("generated_at")),
        dashboard_url=_v(report.get("dashboard_url")),
        scheduler=_v(c.get("scheduler_address")),
        uptime=_v(c.get("uptime_seconds")),
        cards=_cards(report),
        charts=_CHARTS,
        tables=[_workers(report), _jobs(report), _alerts(report)],
        failures=_failures(report),
        history=(report.get("metrics") or {}).get("history") or [],
        library=library,
        library_css=library_css,
    )
