"""The profile page's Jinja2 template: names from the cluster are text, never markup."""

from __future__ import annotations

import re

from pycluster.profiling.html import render_html
from pycluster.profiling.report import (
    FunctionStats,
    HotFrame,
    PhaseTotals,
    ProfileReport,
    TaskRecord,
    WorkerSample,
    WorkerUsage,
)

EVIL = '<img src=x onerror="alert(1)">'


def test_hostile_names_are_shown_as_text() -> None:
    worker = f"tcp://127.0.0.1:1/{EVIL}"
    report = ProfileReport(
        scheduler_address=f"tcp://127.0.0.1:1/{EVIL}",
        started_at=0.0,
        stopped_at=2.0,
        functions=[FunctionStats(EVIL, 2, 0, 0.5, 0.25, 0.2, 0.3)],
        phases=PhaseTotals(compute_s=0.5),
        workers=[WorkerUsage(worker, EVIL, 2, 10.0, 20.0, 1 << 20, 2 << 20, 1 << 30)],
        samples=[WorkerSample(0.5, worker, 10.0, 1 << 20), WorkerSample(1.5, worker, 20.0, 2 << 20)],
        tasks=[TaskRecord(EVIL, worker, 1, 0.1 + i, 0.4 + i, True) for i in range(2)],
        hot_frames=[HotFrame(EVIL, f"/tmp/{EVIL}.py", 3, 5, 7)],
        profile_samples=7,
        sample_interval_s=0.01,
    )
    page = render_html(report)
    assert "<img" not in page and "onerror=&#34;alert(1)&#34;" in page
    assert (
        page.count("<svg") == 6 and len(re.findall(r"<rect ", page)) == 1 + 1 + 2 + 4
    )  # calls, time, 2 tasks, 4 phases
    assert "<script" not in page and "No samples." not in page and "/tmp/&lt;img" in page
