"""``ProfileReport.save_html``: one self-contained page, charts drawn as inline SVG.

No script and nothing fetched (no CDN): the file opens anywhere, offline, and can be mailed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape

from .report import ProfileReport, memory_text
from .text import summary_text

__all__ = ["render_html"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# a timeline with more bars than this would make a page browsers struggle with; the rest is summed above
_MAX_BARS = 5000
_WIDTH = 760


def _color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def _bars(labels: Sequence[str], values: Sequence[float], unit: str) -> str:
    """A horizontal bar chart."""
    if not values:
        return "<p>No data.</p>"
    top = max(values) or 1.0
    row, left = 22, 160
    height = row * len(values) + 10
    parts = [f'<svg width="{_WIDTH}" height="{height}" role="img">']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 5 + i * row
        width = (_WIDTH - left - 110) * value / top
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{left}" y="{y}" width="{width:.1f}" height="{row - 6}" fill="{_color(i)}"/>'
            f'<text x="{left + width + 6:.1f}" y="{y + 14}">{value:.3g}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _lines(series: dict[str, list[tuple[float, float]]], t0: float, t1: float, fmt: str) -> str:
    """One line per series over the window; ``fmt`` is 'percent' or 'bytes' for the axis label."""
    points = [p for s in series.values() for p in s]
    if not points:
        return "<p>No samples.</p>"
    height, left, bottom = 200, 70, 24
    top = max(v for _, v in points) or 1.0
    span = max(t1 - t0, 1e-9)

    def xy(t: float, v: float) -> str:
        x = left + (_WIDTH - left - 10) * (t - t0) / span
        y = 8 + (height - bottom - 8) * (1 - v / top)
        return f"{x:.1f},{y:.1f}"

    label = f"{top:.0f}%" if fmt == "percent" else memory_text(top)
    parts = [
        f'<svg width="{_WIDTH}" height="{height + 20 * len(series)}" role="img">',
        f'<text x="{left - 6}" y="16" text-anchor="end">{escape(label)}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{_WIDTH - 10}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{_WIDTH - 10}" y="{height - 6}" text-anchor="end">{span:.1f}s</text>',
    ]
    for i, (name, values) in enumerate(sorted(series.items())):
        path = " ".join(xy(t, v) for t, v in sorted(values))
        parts.append(f'<polyline fill="none" stroke="{_color(i)}" stroke-width="2" points="{path}"/>')
        # a dot per reading: a short window may hold a single one, which no line shows
        for t, v in values:
            x, y = xy(t, v).split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{_color(i)}"/>')
        parts.append(f'<text x="{left}" y="{height + 14 + 20 * i}" fill="{_color(i)}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(report: ProfileReport) -> str:
    """Dask's task stream: one row per worker thread, one bar per task, colored by function."""
    tasks = report.tasks[:_MAX_BARS]
    if not tasks:
        return "<p>No tasks ran in this window.</p>"
    rows = sorted({(t.worker, t.thread) for t in tasks})
    row_of = {r: i for i, r in enumerate(rows)}
    color_of = {f.name: _color(i) for i, f in enumerate(report.functions)}
    t0, t1 = report.started_at, max(report.stopped_at, max(t.stop for t in tasks))
    span = max(t1 - t0, 1e-9)
    row, left = 18, 10
    parts = [f'<svg width="{_WIDTH}" height="{row * len(rows) + 10}" role="img">']
    for t in tasks:
        x = left + (_WIDTH - 2 * left) * (max(t.start, t0) - t0) / span
        width = max((_WIDTH - 2 * left) * t.seconds / span, 0.5)
        y = 5 + row * row_of[(t.worker, t.thread)]
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row - 4}" '
            f'fill="{color_of.get(t.function, "#777")}"><title>{escape(t.function)} on {escape(t.worker)}: '
            f"{t.seconds * 1000:.1f}ms</title></rect>"
        )
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="color:{c}">&#9632; {escape(name)}</span>' for name, c in color_of.items()
    )
    return "".join(parts) + f"<p>{legend}</p>"


def render_html(report: ProfileReport) -> str:
    functions = report.functions
    cpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
    memory: dict[str, list[tuple[float, float]]] = defaultdict(list)
    names = {w.worker: w.name for w in report.workers}
    for s in report.samples:
        cpu[names.get(s.worker, s.worker)].append((s.time, s.cpu_percent))
        memory[names.get(s.worker, s.worker)].append((s.time, float(s.memory_bytes)))
    t0, t1 = report.started_at, report.stopped_at
    p = report.phases
    phases = [("compute", p.compute_s), ("transfer", p.transfer_s), ("deserialize", p.deserialize_s)]
    phases.append(("disk", p.disk_s))
    if p.scheduler_cpu_s is not None:
        phases.append(("scheduler CPU", p.scheduler_cpu_s))
    hot = "".join(
        f"<tr><td>{h.self_samples}</td><td>{h.total_samples}</td><td>{escape(h.function)}</td>"
        f"<td>{escape(h.filename)}:{h.line}</td></tr>"
        for h in report.hot_frames
    )
    sections = [
        ("Tasks per function (calls)", _bars([f.name for f in functions], [f.count for f in functions], "")),
        (
            "Compute time per function",
            _bars([f.name for f in functions], [f.total_s for f in functions], "s"),
        ),
        ("Task stream", _timeline(report)),
        ("Where the time went", _bars([n for n, _ in phases], [v for _, v in phases], "s")),
        ("Worker CPU", _lines(cpu, t0, t1, "percent")),
        ("Worker memory", _lines(memory, t0, t1, "bytes")),
        (
            f"Hot code on workers ({report.profile_samples} samples)",
            f"<table><tr><th>self</th><th>total</th><th>function</th><th>where</th></tr>{hot}</table>"
            if hot
            else "<p>No samples (code profiling off, or nothing ran).</p>",
        ),
    ]
    body = "".join(f"<h2>{escape(title)}</h2>{content}" for title, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>pycluster profile: {escape(report.scheduler_address)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:820px}svg{font-size:12px}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto}td,th{padding:2px 8px;text-align:left}</style>"
        f"</head><body><h1>Cluster profile</h1><pre>{escape(summary_text(report))}</pre>"
        f"{body}</body></html>\n"
    )
