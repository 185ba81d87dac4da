"""The HTML report's Jinja2 template: autoescaped, every value from the cluster shown as text."""

from __future__ import annotations

import json
import re

from pycluster.dashboard.report import render_html_report

EVIL = "<script>alert(1)</script>"


def hostile_report() -> dict[str, object]:
    return {
        "generated_at": "2026-01-02T10:00:00.123456Z",
        "dashboard_url": f"http://127.0.0.1:8787/{EVIL}",
        "health": {"status": "healthy"},
        "cluster": {"cluster_name": f'x"{EVIL}', "n_workers": 1, "scheduler_address": "tls://127.0.0.1:1"},
        "workers": [{"name": EVIL, "host": "127.0.0.1", "resources": {EVIL: 1}, "memory_used": 1 << 30}],
        "jobs": {"jobs": [{"job_id": EVIL, "operation": "sleep", "status": "running", "progress": 50}]},
        "alerts": {"recent": [{"time": "2026-01-02T10:00:00Z", "level": "warning", "message": EVIL}]},
        "tasks": {"recent_failures": [{"key": EVIL, "time": None, "error": f"KeyError('{EVIL}')"}]},
        "metrics": {
            "history": [{"timestamp": "2026-01-02T10:00:00Z", "cpu_percent": 5, "note": f"</script>{EVIL}"}]
        },
    }


def test_every_value_is_text_and_the_chart_data_cannot_close_its_script() -> None:
    page = render_html_report(hostile_report())
    # the only <script> elements are the report's own three (the JSON block, uPlot, the charts)
    assert len(re.findall(r"<script[ >]", page)) == 3
    assert "alert(1)" not in page.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "").replace(
        "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e", ""
    )
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8  # name, title, worker, job, alert, ...
    assert "2026-01-02 10:00:00 UTC" in page and "1.00 GiB / 0 B" in page
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert data is not None and json.loads(data.group(1))[0]["note"] == f"</script>{EVIL}"


def test_an_empty_report_renders_its_placeholders() -> None:
    page = render_html_report({})
    for text in (
        "pycluster report · pycluster",
        "No workers connected.",
        "No jobs.",
        "No alerts.",
        "No failed tasks.",
    ):
        assert text in page
