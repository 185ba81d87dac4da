"""``ProfileReport.save_html``: one self-contained page, charts drawn as inline SVG.

No script and nothing fetched (no CDN): the file opens anywhere, offline, and can be mailed.
This module works out the charts' geometry; the Jinja2 template templates/profile.html.j2
draws it, autoescaped, so function, worker and file names are always text.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import jinja2

from .report import ProfileReport, memory_text
from .text import summary_text

__all__ = ["render_html"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# a timeline with more bars than this would make a page browsers struggle with; the rest is summed above
_MAX_BARS = 5000
_WIDTH = 760


def _color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


@dataclass(frozen=True)
class _BarRow:
    y: int
    width: float
    color: str
    label: str
    value: str


@dataclass(frozen=True)
class _BarChart:
    rows: list[_BarRow]
    width: int = _WIDTH
    height: int = 0
    left: int = 160
    row: int = 22


@dataclass(frozen=True)
class _Series:
    name: str
    color: str
    points: list[str]
    dots: list[tuple[str, str]]


@dataclass(frozen=True)
class _LineChart:
    series: list[_Series]
    top_label: str = ""
    span: float = 0.0
    width: int = _WIDTH
    height: int = 200
    left: int = 70
    bottom: int = 24


@dataclass(frozen=True)
class _TaskBar:
    x: float
    y: int
    width: float
    color: str
    title: str


@dataclass(frozen=True)
class _Timeline:
    bars: list[_TaskBar]
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = _WIDTH
    height: int = 0
    row: int = 18


@dataclass(frozen=True)
class _Section:
    title: str
    kind: str  # bars, lines or timeline: the template's macro
    chart: _BarChart | _LineChart | _Timeline


def _bars(labels: Sequence[str], values: Sequence[float], unit: str) -> _BarChart:
    """A horizontal bar chart."""
    if not values:
        return _BarChart([])
    top = max(values) or 1.0
    row, left = 22, 160
    rows = [
        _BarRow(5 + i * row, (_WIDTH - left - 110) * value / top, _color(i), label, f"{value:.3g}{unit}")
        for i, (label, value) in enumerate(zip(labels, values))
    ]
    return _BarChart(rows, height=row * len(values) + 10, left=left, row=row)


def _lines(series: dict[str, list[tuple[float, float]]], t0: float, t1: float, fmt: str) -> _LineChart:
    """One line per series over the window; ``fmt`` is 'percent' or 'bytes' for the axis label."""
    points = [p for s in series.values() for p in s]
    if not points:
        return _LineChart([])
    chart = _LineChart([])
    top = max(v for _, v in points) or 1.0
    span = max(t1 - t0, 1e-9)

    def xy(t: float, v: float) -> tuple[str, str]:
        x = chart.left + (_WIDTH - chart.left - 10) * (t - t0) / span
        y = 8 + (chart.height - chart.bottom - 8) * (1 - v / top)
        return f"{x:.1f}", f"{y:.1f}"

    drawn = []
    for i, (name, values) in enumerate(sorted(series.items())):
        line = [",".join(xy(t, v)) for t, v in sorted(values)]
        # a dot per reading: a short window may hold a single one, which no line shows
        drawn.append(_Series(name, _color(i), line, [xy(t, v) for t, v in values]))
    label = f"{top:.0f}%" if fmt == "percent" else memory_text(top)
    return _LineChart(drawn, top_label=label, span=span)


def _timeline(report: ProfileReport) -> _Timeline:
    """Dask's task stream: one row per worker thread, one bar per task, colored by function."""
    tasks = report.tasks[:_MAX_BARS]
    if not tasks:
        return _Timeline([])
    rows = sorted({(t.worker, t.thread) for t in tasks})
    row_of = {r: i for i, r in enumerate(rows)}
    color_of = {f.name: _color(i) for i, f in enumerate(report.functions)}
    t0, t1 = report.started_at, max(report.stopped_at, max(t.stop for t in tasks))
    span = max(t1 - t0, 1e-9)
    row, left = 18, 10
    bars = [
        _TaskBar(
            left + (_WIDTH - 2 * left) * (max(t.start, t0) - t0) / span,
            5 + row * row_of[(t.worker, t.thread)],
            max((_WIDTH - 2 * left) * t.seconds / span, 0.5),
            color_of.get(t.function, "#777"),
            f"{t.function} on {t.worker}: {t.seconds * 1000:.1f}ms",
        )
        for t in tasks
    ]
    return _Timeline(bars, list(color_of.items()), height=row * len(rows) + 10, row=row)


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pycluster.profiling", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template("profile.html.j2")


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
    names_of = [f.name for f in functions]
    sections = [
        _Section("Tasks per function (calls)", "bars", _bars(names_of, [f.count for f in functions], "")),
        _Section("Compute time per function", "bars", _bars(names_of, [f.total_s for f in functions], "s")),
        _Section("Task stream", "timeline", _timeline(report)),
        _Section("Where the time went", "bars", _bars([n for n, _ in phases], [v for _, v in phases], "s")),
        _Section("Worker CPU", "lines", _lines(cpu, t0, t1, "percent")),
        _Section("Worker memory", "lines", _lines(memory, t0, t1, "bytes")),
    ]
    return _template().render(
        scheduler_address=report.scheduler_address,
        summary=summary_text(report),
        sections=sections,
        hot=report.hot_frames,
        profile_samples=report.profile_samples,
    )
