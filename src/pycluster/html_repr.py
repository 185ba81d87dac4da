"""The small HTML tables Jupyter shows for a head, a cluster manager and a job (``_repr_html_``).

Like Dask's ``Client`` and ``LocalCluster`` reprs: a title and label/value rows. Every value
is HTML-escaped (a cluster name is user input), and only http(s) URLs become links. Keys and
tokens are never passed in: a notebook is saved, shared and rendered elsewhere.

>>> print(html_table("Job", [("status", "<b>done</b>")]))  # doctest: +ELLIPSIS
<div class="pycluster-repr">...<td ...>&lt;b&gt;done&lt;/b&gt;</td>...
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .units import format_bytes

__all__ = ["Link", "Progress", "cluster_rows", "html_table"]


@dataclass(frozen=True)
class Link:
    """A URL shown as a link (only http and https; anything else is shown as text)."""

    url: str
    text: str | None = None


@dataclass(frozen=True)
class Progress:
    """A percentage shown as a bar and a label."""

    percent: float
    label: str


Row = tuple[str, object]

_STYLE = "text-align: left; padding: 2px 8px;"


def _cell(value: object) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, Link):
        text = html.escape(value.text or value.url)
        if value.url.startswith(("http://", "https://")):
            return f'<a href="{html.escape(value.url, quote=True)}" target="_blank">{text}</a>'
        return text
    if isinstance(value, Progress):
        percent = max(0.0, min(100.0, value.percent))
        return f'<progress max="100" value="{percent:.1f}"></progress> {html.escape(value.label)}'
    return html.escape(str(value))


def html_table(title: str, rows: Sequence[Row]) -> str:
    """``title`` over a two-column table of ``rows``; every label and value escaped."""
    body = "".join(
        f'<tr><th style="{_STYLE}">{html.escape(label)}</th><td style="{_STYLE}">{_cell(value)}</td></tr>'
        for label, value in rows
    )
    return (
        '<div class="pycluster-repr">'
        f'<h4 style="margin: 4px 0;">{html.escape(title)}</h4>'
        f"<table>{body}</table>"
        "</div>"
    )


def cluster_rows(identity: Mapping[str, Any] | None) -> list[Row]:
    """Workers, cores, memory and running tasks from a scheduler's identity (None: not known)."""
    if identity is None:
        return [("workers", "unknown (the scheduler did not answer)")]
    from .cluster.results import ClusterSummary

    summary = ClusterSummary.from_identity(dict(identity))
    return [
        ("workers", summary.n_workers),
        ("cores", summary.total_cores),
        (
            "memory",
            f"{format_bytes(summary.used_memory_bytes)} used of {format_bytes(summary.total_memory_bytes)}",
        ),
        ("tasks running", summary.active_tasks),
    ]
