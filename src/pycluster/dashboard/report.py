"""A dashboard report as one standalone HTML page: totals, charts, workers, jobs, alerts.

plotly.js is inlined (from the plotly wheel), so the file opens offline, anywhere. Every
value from the cluster is HTML-escaped; chart data travels as JSON in a non-executed
``<script type="application/json">`` block.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from ..units import format_bytes
from .plotly_bundle import plotly_js

__all__ = ["render_html_report"]

_CSS = """
:root { color-scheme: light dark; --bg:#f4f6fb; --card:#fff; --border:#e2e7f0; --text:#151b2b;
  --muted:#667085; --accent:#4f46e5; --ok:#16a34a; --warn:#d97706; --bad:#dc2626; }
@media (prefers-color-scheme: dark) { :root { --bg:#0b1020; --card:#121a2c; --border:#25304a;
  --text:#e6eaf2; --muted:#95a1b8; --accent:#8b93ff; --ok:#34d399; --warn:#fbbf24; --bad:#f87171; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text);
  font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
main { max-width:1200px; margin:0 auto; padding:24px; display:grid; gap:16px; }
h1 { margin:0; font-size:22px; } h2 { margin:0 0 12px; font-size:15px; }
.muted { color:var(--muted); }
.cards { display:grid; gap:12px; grid-template-columns:repeat(4,minmax(0,1fr)); }
@media (max-width: 700px) { .cards { grid-template-columns:repeat(2,minmax(0,1fr)); } }
.card { background:var(--card); border:1px solid var(--border); border-radius:12px;
  padding:16px 20px; min-width:0; }
.label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.value { font-size:24px; font-weight:650; }
.charts { display:grid; gap:16px; grid-template-columns:repeat(auto-fit,minmax(340px,1fr)); }
.chart { height:260px; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th { text-align:left; color:var(--muted); font-size:12px; font-weight:500; text-transform:uppercase;
  padding:8px; border-bottom:1px solid var(--border); }
td { padding:8px; border-bottom:1px solid var(--border); overflow-wrap:anywhere; }
.wrap { overflow-x:auto; }
pre { white-space:pre-wrap; overflow-wrap:anywhere; color:var(--bad); margin:4px 0 0; font-size:12px; }
"""

_CHARTS_JS = """
(function () {
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var css = getComputedStyle(document.documentElement);
  var c = function (name) { return css.getPropertyValue(name).trim(); };
  var x = data.map(function (s) { return s.timestamp; });
  var col = function (key, scale) { return data.map(function (s) { return (s[key] || 0) * (scale || 1); }); };
  var layout = function (suffix, max) {
    return { margin: {l: 48, r: 12, t: 8, b: 32},
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: {size: 11, color: c("--muted")}, legend: {orientation: "h", y: 1.15},
      xaxis: {type: "date", gridcolor: c("--border")},
      yaxis: {gridcolor: c("--border"), ticksuffix: suffix, rangemode: "tozero",
              range: max ? [0, max] : undefined} };
  };
  var line = function (name, y, color) {
    return {type: "scatter", mode: "lines", name: name, x: x, y: y, line: {color: color, width: 2}};
  };
  var config = {displayModeBar: false, responsive: true};
  Plotly.newPlot("chart-throughput", [line("tasks/s", col("tasks_per_second"), c("--accent"))],
    layout("", null), config);
  Plotly.newPlot("chart-usage", [line("CPU", col("cpu_percent"), c("--accent")),
    line("Memory", col("memory_usage_percent"), c("--ok"))], layout("%", 100), config);
  Plotly.newPlot("chart-network", [line("read", col("network_read_bps", 1e-6), c("--accent")),
    line("write", col("network_write_bps", 1e-6), c("--warn"))], layout(" MB/s", null), config);
})();
"""


def _e(value: Any) -> str:
    return escape("-" if value is None else str(value), quote=True)


def _time(iso: Any) -> str:
    """``2026-01-02T10:00:00.123456Z`` -> ``2026-01-02 10:00:00 UTC`` (other values as they are)."""
    text = str(iso or "-")
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 and text[10] == "T" else text


def _card(label: str, value: Any, sub: str = "") -> str:
    note = f'<div class="muted">{_e(sub)}</div>' if sub else ""
    return (
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div>{note}</div>'
    )


def _table(headers: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cards(report: dict[str, Any]) -> str:
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
    return '<div class="cards">' + "".join(cards) + "</div>"


def _workers(report: dict[str, Any]) -> str:
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
    return _table(headers, rows, "No workers connected.")


def _jobs(report: dict[str, Any]) -> str:
    jobs = (report.get("jobs") or {}).get("jobs") or []
    keys = ("job_id", "operation", "priority", "status")
    rows = [[*(j.get(k) for k in keys), f"{j.get('progress', 0):.0f}%"] for j in jobs]
    return _table(["Job", "Operation", "Priority", "Status", "Progress"], rows, "No jobs.")


def _alerts(report: dict[str, Any]) -> str:
    recent = (report.get("alerts") or {}).get("recent") or []
    rows = [[_time(a.get("time")), a.get("level"), a.get("message")] for a in recent]
    return _table(["Time", "Level", "Alert"], rows, "No alerts.")


def _failures(report: dict[str, Any]) -> str:
    failures = (report.get("tasks") or {}).get("recent_failures") or []
    if not failures:
        return '<p class="muted">No failed tasks.</p>'
    items = "".join(
        f"<div><b>{_e(f.get('key'))}</b> <span class='muted'>{_e(_time(f.get('time')))}</span>"
        f"<pre>{_e(f.get('error'))}</pre></div>"
        for f in failures
    )
    return f"<div>{items}</div>"


def _section(title: str, body: str) -> str:
    return f'<section class="card"><h2>{_e(title)}</h2>{body}</section>'


def _chart_data(report: dict[str, Any]) -> str:
    history = (report.get("metrics") or {}).get("history") or []
    # "<" escaped: no value can close the script element
    return json.dumps(history, default=str).replace("<", "\\u003c")


def render_html_report(report: dict[str, Any]) -> str:
    """The report (``DashboardManager.generate_dashboard_report()``) as a standalone page."""
    c = report.get("cluster") or {}
    name = c.get("cluster_name") or "pycluster"
    charts = "".join(
        f'<section class="card"><h2>{_e(title)}</h2><div class="chart" id="{cid}"></div></section>'
        for title, cid in [
            ("Task throughput (tasks/s)", "chart-throughput"),
            ("CPU and memory", "chart-usage"),
            ("Network I/O", "chart-network"),
        ]
    )
    body = "".join(
        [
            f"<header><h1>pycluster report · {_e(name)}</h1><div class='muted'>generated "
            f"{_e(_time(report.get('generated_at')))} from {_e(report.get('dashboard_url'))} · scheduler "
            f"{_e(c.get('scheduler_address'))} · uptime {_e(c.get('uptime_seconds'))} s</div></header>",
            _cards(report),
            f'<div class="charts">{charts}</div>',
            _section("Workers", _workers(report)),
            _section("Jobs", _jobs(report)),
            _section("Recent alerts", _alerts(report)),
            _section("Recent task failures", _failures(report)),
        ]
    )
    library = plotly_js().replace("</script", "<\\/script")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pycluster report · {_e(name)}</title><style>{_CSS}</style></head><body>"
        f"<main>{body}</main>"
        f'<script type="application/json" id="report-data">{_chart_data(report)}</script>'
        f"<script>{library}</script><script>{_CHARTS_JS}</script></body></html>"
    )
