"""The dashboard's API without a browser: snapshot, the shared event stream, alerts,
clearing failures, the operations list, DashboardManager and ``pycluster report``."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pycluster import DashboardError, DashboardManager, HeadNode
from tests.helpers import cli, running_head, wait_for


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("dash-api", tmp_path_factory.mktemp("dash-api-state"), workers=1) as node:
        yield node


@pytest.fixture(scope="module")
def api(head: HeadNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=head.dashboard_url or "", timeout=30) as client:
        yield client


def read_events(url: str, count: int, seen: list[dict], started: threading.Event) -> None:
    with httpx.stream("GET", url, timeout=30) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        started.set()
        for line in answer.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if len(seen) >= count:
                    return


def test_snapshot_has_every_section(api: httpx.Client) -> None:
    snap = api.get("/api/dashboard/snapshot").json()
    assert snap["cluster"]["status"] == "running" and snap["cluster"]["n_workers"] == 1
    assert snap["cluster"]["dask_dashboard_url"] is None  # diagnostics are off here
    assert len(snap["workers"]) == 1 and snap["workers"][0]["nthreads"] == 1
    assert {"completed", "running", "pending", "failed", "recent_failures"} <= set(snap["tasks"])
    assert set(snap["jobs"]["totals"]) == {"pending", "queued", "running", "completed", "failed", "cancelled"}
    assert snap["alerts"]["thresholds"] == {"cluster_cpu": 0.9, "cluster_memory": 0.9}


def _shape(value: object) -> object:
    """The keys of every object in ``value`` (lists by the union of their items' shapes)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes = [_shape(v) for v in value]
        return [s for i, s in enumerate(shapes) if s not in shapes[:i]]
    return "value"


def test_snapshot_answers_the_same_keys_as_the_stream(head: HeadNode, api: httpx.Client) -> None:
    # the snapshot route goes through its response model, the stream does not: same keys
    seen: list[dict] = []
    read_events(f"{head.dashboard_url}/api/dashboard/stream?interval=2", 1, seen, threading.Event())
    snap = api.get("/api/dashboard/snapshot").json()
    for frame in (snap, seen[0]):
        frame["metrics"], frame["jobs"]["jobs"] = frame["metrics"][:1], frame["jobs"]["jobs"][:0]
        frame["tasks"]["recent_failures"] = frame["tasks"]["recent_failures"][:0]
    assert _shape(snap) == _shape(seen[0])


def test_one_producer_serves_every_browser(head: HeadNode) -> None:
    url = f"{head.dashboard_url}/api/dashboard/stream?interval=1"
    feed_state = head.services["web"].server.app.state
    results: list[list[dict]] = [[], [], []]
    threads = []
    for seen in results:
        started = threading.Event()
        thread = threading.Thread(target=read_events, args=(url, 3, seen, started), daemon=True)
        thread.start()
        assert started.wait(20)
        threads.append(thread)
    # headers reach the client just before the server's generator subscribes: wait for the third
    wait_for(lambda: feed_state.live_feed.producers == {1: 3}, 5, what="three subscribers on one producer")
    begun = time.monotonic()
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - begun
    assert all(len(seen) == 3 for seen in results)
    # three browsers, one snapshot per tick: at most one build per second (plus the first)
    assert feed_state.live_feed.builds(1) <= elapsed + 4
    assert results[0][-1]["cluster"]["n_workers"] == 1
    wait_for(lambda: feed_state.live_feed.producers == {}, 10, what="the producer to stop")


def test_stream_refuses_a_bad_interval(api: httpx.Client) -> None:
    answer = api.get("/api/dashboard/stream?interval=3")
    assert answer.status_code == 422 and "1, 2, 5, 10, 30" in answer.json()["detail"]
    assert api.get("/api/dashboard/stream?interval=soon").status_code == 422


def test_alert_thresholds_change_and_refuse_bad_values(api: httpx.Client) -> None:
    for bad in ({"cluster_cpu": 2}, {"cluster_cpu": 0}, {"gpu_heat": 0.5}, {"cluster_memory": "lots"}):
        answer = api.put("/api/dashboard/alerts/thresholds", json=bad)
        assert answer.status_code == 422, bad
        assert answer.json()["detail"], bad
    changed = api.put("/api/dashboard/alerts/thresholds", json={"cluster_memory": 0.75}).json()
    assert changed["thresholds"] == {"cluster_cpu": 0.9, "cluster_memory": 0.75}
    assert api.get("/api/dashboard/alerts").json()["thresholds"]["cluster_memory"] == 0.75
    api.put("/api/dashboard/alerts/thresholds", json={"cluster_memory": 0.9})


def test_failed_tasks_are_listed_with_their_error_and_cleared(head: HeadNode, api: httpx.Client) -> None:
    client = head.cluster_manager.client
    future = client.submit(operator.truediv, 1, 0, pure=False)
    wait_for(lambda: future.status == "error", 20)

    def failures() -> list[dict]:
        return api.get("/api/dashboard/snapshot").json()["tasks"]["recent_failures"]

    listed = wait_for(failures, 10, what="the failure in the snapshot")
    assert "ZeroDivisionError" in listed[0]["error"] and listed[0]["key"].startswith("truediv")
    assert api.post("/api/dashboard/tasks/clear-failed").json()["cleared"] >= 1
    tasks = api.get("/api/dashboard/snapshot").json()["tasks"]
    assert tasks["failed"] == 0 and tasks["recent_failures"] == [] and tasks["failed_total"] >= 1
    assert "pycluster_tasks_failed_total 1" in api.get("/metrics").text  # the counter keeps counting
    future.release()


def test_operations_are_listed_for_the_submit_form(api: httpx.Client) -> None:
    operations = {op["name"]: op for op in api.get("/api/processing/operations").json()["operations"]}
    assert {"sleep", "echo"} <= set(operations)
    assert not [name for name in operations if name.startswith("python.")]
    assert operations["sleep"]["example"] == {"seconds": 1.0, "pieces": 4}
    assert operations["sleep"]["description"]


def test_dashboard_page_and_its_chart_library_come_from_this_app(api: httpx.Client) -> None:
    page = api.get("/")
    assert page.status_code == 200
    assert '<script src="/static/vendor/uPlot.iife.min.js" defer>' in page.text
    assert '<link rel="stylesheet" href="/static/vendor/uPlot.min.css">' in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    uplot = api.get("/static/vendor/uPlot.iife.min.js")
    assert uplot.status_code == 200 and uplot.headers["content-type"].startswith("text/javascript")
    assert uplot.text.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert len(uplot.content) < 100_000  # ~50 kB, where plotly.js was 4.8 MB
    again = api.get("/static/vendor/uPlot.iife.min.js", headers={"if-none-match": uplot.headers["etag"]})
    assert again.status_code == 304
    assert api.get("/static/vendor/uPlot.min.css").status_code == 200
    assert api.get("/vendor/plotly.min.js").status_code == 404  # gone with plotly
    assert api.get("/static/app.js").status_code == 200


def test_dashboard_manager_reads_the_dashboard(head: HeadNode) -> None:
    dashboard = DashboardManager(head.dashboard_url or "")
    assert dashboard.is_accessible()
    assert dashboard.get_cluster_status()["n_workers"] == 1
    workers = dashboard.get_worker_info()
    assert workers["n_workers"] == 1 and "memory_usage" in workers["workers"][0]
    report = dashboard.generate_dashboard_report()
    expected = {"generated_at", "cluster", "workers", "tasks", "jobs", "alerts", "metrics", "health", "gpu"}
    assert expected <= set(report) and report["accessible"] is True
    # the head's GPU endpoint answers: no GPU on this machine, and the report says why
    assert report["gpu"]["summary"]["available"] is False and "NVIDIA" in report["gpu"]["summary"]["reason"]
    nobody = DashboardManager("http://127.0.0.1:9", timeout=2)
    assert not nobody.is_accessible()
    with pytest.raises(DashboardError, match="did not answer"):
        nobody.get_cluster_status()


def test_open_in_browser_runs_the_systems_browser(head: HeadNode, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake_browser.chmod(0o755)
    code = (
        "from pycluster import DashboardManager; "
        f"print(DashboardManager({head.dashboard_url!r}).open_in_browser())"
    )
    env = {**os.environ, "BROWSER": str(fake_browser)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr
    wait_for(opened.exists, 10)
    assert opened.read_text().strip() == head.dashboard_url


def test_report_command_writes_a_standalone_html_page(head: HeadNode, tmp_path: Path) -> None:
    client = head.cluster_manager.client
    failing = client.submit(operator.getitem, {}, "<script>alert(3)</script>", pure=False)
    wait_for(lambda: failing.status == "error", 20)
    out = tmp_path / "report.html"
    done = cli("report", "--url", head.dashboard_url or "", "--html", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "pycluster report · dash-api" in page and "new uPlot(" in page
    assert "/*! https://github.com/leeoniya/uPlot (v1.6.32) */" in page  # inside: the page works offline
    assert len(page) < 200_000  # ~60 kB with uPlot, where plotly.js made it 4.8 MB
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page  # the failure, as text
    assert "<script>alert(3)" not in page
    assert "<script src=" not in page and "<link" not in page  # nothing to fetch: works offline
    as_json = cli("report", "--url", head.dashboard_url or "", "--json")
    assert json.loads(as_json.stdout)["cluster"]["cluster_name"] == "dash-api"
    refused = cli("report", "--url", "http://127.0.0.1:9")
    assert refused.returncode == 1 and "did not answer" in refused.stderr
    failing.release()
