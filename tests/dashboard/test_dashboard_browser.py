"""The dashboard in a real browser against a real head with 2 workers.

Each test looks at one tab while the cluster changes underneath it, and saves a
screenshot under test-artifacts/dashboard/.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from pycluster import DashboardManager, HeadNode, JobStatus, Settings, WorkerNode
from tests.dashboard.browser import (
    answer_confirmation,
    chart_has_positive_point,
    colour_pixels,
    screenshot,
    series_are_drawn,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

LIVE_TIMEOUT = 20_000  # ms: a shared 2-core machine can be slow to start a page
DASH_TOKEN = "dash-test-token-0123456789"
BROWSER = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}  # not trusted as the local user


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    """One job at a time (MAX_CONCURRENT_JOBS=1), metrics every 0.5 s, Dask diagnostics on."""
    settings = Settings.load(
        False,
        env={"MAX_CONCURRENT_JOBS": "1"},
        name="dash-test",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=0,
        discovery_port=0,  # Settings.load(False) ignores the suite's PYCLUSTER_DISCOVERY_PORT=0
        state_dir=str(tmp_path_factory.mktemp("dash-state")),
        monitoring__metrics_interval=0.5,
        api_token=DASH_TOKEN,  # every change the pages make goes through the cookie session + CSRF
    )
    node = HeadNode(settings=settings)
    node.start(n_local_workers=2, threads_per_worker=1)
    yield node
    node.shutdown()


def login_url(head: HeadNode) -> str | None:
    """The link that signs a browser in (HeadNode.login_url where the head has it)."""
    token = head.settings.cluster.api_token
    if not token:
        return None
    return getattr(head, "login_url", None) or f"{head.dashboard_url}/login?{urlencode({'token': token})}"


def sign_in(page: Any, head: HeadNode) -> None:
    """Open the head's login link once per browser context: it sets the session cookie (a
    browser is never trusted as the local user, so a head with a token asks it to sign in)."""
    link = login_url(head)
    if link and not any(c["name"].startswith("pycluster-session-") for c in page.context.cookies()):
        page.goto(link)


def open_tab(page: Any, head: HeadNode, tab: str) -> None:
    sign_in(page, head)
    page.goto(f"{head.dashboard_url}/#{tab}")
    expect(page.locator("#live-pill")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)


def number(page: Any, selector: str) -> int:
    return int(page.locator(selector).inner_text().replace(",", "").strip() or 0)


def test_overview_shows_the_cluster(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "overview")
    n_workers = head.get_cluster_status()["n_workers"]
    expect(page.locator("#card-workers .v")).to_have_text(str(n_workers))
    expect(page.locator("#card-health .v")).to_have_text("healthy")
    expect(page.locator("#info-scheduler")).to_have_text(head.scheduler_address)
    expect(page.locator("#info-worker-command")).to_contain_text(head.scheduler_address)
    expect(page.locator("#dask-link")).to_have_attribute("href", head.dask_dashboard_url or "")
    series_are_drawn(page, "chart-usage", {"CPU", "Memory"})
    expect(page).to_have_title("pycluster · dash-test")
    screenshot(page, "overview")


def test_tasks_move_the_counters_and_charts(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "tasks")
    before = number(page, "#task-completed .v")
    client = head.cluster_manager.client
    client.gather(client.map(abs, range(-300, 0), pure=False))
    wait_for(lambda: number(page, "#task-completed .v") >= before + 300, 20, what="completed tasks to rise")
    chart_has_positive_point(page, "chart-task-bars")
    pie = page.locator("#chart-task-pie")
    completed = pie.locator(".donut-legend li", has_text="Completed").locator(".donut-value")
    expect(completed).not_to_have_text("0", timeout=LIVE_TIMEOUT)  # the donut redraws every 5-12 s
    assert colour_pixels(pie, "--ok") > 500, "the donut draws no completed slice"
    ring = pie.locator("canvas").bounding_box()  # the completed slice starts at 12 o'clock
    page.mouse.move(ring["x"] + ring["width"] / 2 + 4, ring["y"] + ring["height"] * 0.09)
    expect(pie.locator(".donut-legend li.hovered")).to_contain_text("Completed")
    page.mouse.move(0, 0)
    expect(pie.locator(".donut-legend li.hovered")).to_have_count(0)
    evil_error = "<script>alert(2)</script>"
    failing = client.submit(operator.getitem, {}, evil_error, pure=False)
    expect(page.locator("#failures pre").first).to_contain_text(evil_error, timeout=LIVE_TIMEOUT)
    expect(page.locator("#task-failed .v")).not_to_have_text("0")
    screenshot(page, "tasks")
    page.click("#clear-failed")
    assert "cannot be shown again" in answer_confirmation(page, False)  # kept: nothing cleared
    expect(page.locator("#failures .failure").first).to_be_visible()
    page.click("#clear-failed")
    answer_confirmation(page, True)
    expect(page.locator("#failures .failure")).to_have_count(0)
    expect(page.locator("#task-failed .v")).to_have_text("0")
    failing.release()
    page.goto(f"{head.dashboard_url}/#overview")
    chart_has_positive_point(page, "chart-throughput")
    assert not page.dialogs


def test_job_submitted_from_the_form_reaches_100_percent(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "jobs")
    expect(page.locator("#job-operation option[value=sleep]")).to_have_count(1)
    page.select_option("#job-operation", "sleep")
    page.fill("#job-parameters", "{not json")
    page.click("#job-submit")
    expect(page.locator("#job-form-error")).to_contain_text("not valid JSON")
    page.fill("#job-parameters", json.dumps({"seconds": 0.3, "pieces": 5}))
    page.select_option("#job-priority", "HIGH")
    page.click("#job-submit")
    toast = page.locator(".toast", has_text="Submitted job_")
    job_id = re.search(r"job_\w+", toast.inner_text()).group(0)  # type: ignore[union-attr]
    row = page.locator(f'#jobs-body tr[data-job-id="{job_id}"]')
    expect(row.locator(".badge.prio-HIGH")).to_have_text("HIGH")
    expect(row.locator(".pct")).to_have_text("100%", timeout=30_000)
    expect(row.locator(".badge.completed")).to_be_visible()
    row.click()
    expect(page.locator("#drawer-body")).to_contain_text("slept_seconds")
    expect(page.locator("#drawer-body")).to_contain_text('"pieces": 5')
    screenshot(page, "job-detail")
    assert head.jobs.get(job_id).status == JobStatus.COMPLETED


def test_cancel_a_queued_job_from_the_ui(page: Any, head: HeadNode) -> None:
    queue = head.jobs
    # short pieces: a cancelled piece still finishes its sleep on the worker
    holder = queue.submit_job("sleep", {"seconds": 0.5, "pieces": 60})
    wait_for(lambda: queue.get(holder.id).status == JobStatus.RUNNING, 30, what="the first job to run")
    waiting = queue.submit_job("sleep", {"seconds": 0.1, "pieces": 1})
    open_tab(page, head, "jobs")
    page.select_option("#job-filter", "active")
    row = page.locator(f'#jobs-body tr[data-job-id="{waiting.id}"]')
    expect(row.locator("td[data-label=Status] .badge")).to_have_text("queued")
    screenshot(page, "jobs")
    row.locator("button.cancel").click()
    page.locator("dialog.confirm").get_by_role("button", name="Cancel job").click()  # it asks first
    expect(row).to_have_count(0)  # the "active" filter drops it once cancelled
    assert queue.get(waiting.id).status == JobStatus.CANCELLED
    page.locator(f'#jobs-body tr[data-job-id="{holder.id}"] button.cancel').click()
    page.locator("dialog.confirm").get_by_role("button", name="Cancel job").click()
    wait_for(lambda: queue.get(holder.id).status == JobStatus.CANCELLED, 20, what="the running job to cancel")


def test_workers_join_and_leave_and_names_stay_text(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "workers")
    rows = page.locator("#workers-body tr")
    expect(rows).to_have_count(2)
    evil = "<script>alert(1)</script>"
    node = WorkerNode(head.scheduler_address, worker_name=evil)
    try:
        node.start(n_workers=1, threads_per_worker=1)
        expect(rows).to_have_count(3, timeout=LIVE_TIMEOUT)
        expect(page.locator("#workers-body .cell-main", has_text=evil)).to_have_text(evil)
        expect(page.locator("#tab-count-workers")).to_have_text("3")
        assert page.locator("#workers-body script").count() == 0
        screenshot(page, "workers")
    finally:
        node.shutdown()
    expect(rows).to_have_count(2, timeout=30_000)
    assert not page.dialogs


def test_monitoring_thresholds_and_refresh_interval(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "monitoring")
    series_are_drawn(page, "chart-cpu", {"CPU"})
    assert colour_pixels(page.locator("#chart-cpu"), "--bad") > 100, "no dashed alert line at 90 %"
    page.fill("#threshold-cpu", "55")
    page.click("#threshold-form button[type=submit]")
    alerts_url = f"{head.dashboard_url}/api/dashboard/alerts"
    wait_for(lambda: httpx.get(alerts_url).json()["thresholds"]["cluster_cpu"] == 0.55, 10)
    page.fill("#threshold-cpu", "0")
    page.click("#threshold-form button[type=submit]")
    expect(page.locator("#threshold-error")).to_contain_text("cluster_cpu")
    page.select_option("#refresh-interval", "5")
    feed = head.services["web"].server.app.state.live_feed
    wait_for(lambda: 5 in feed.producers, 10, what="a 5 s producer")
    screenshot(page, "monitoring")
    httpx.put(f"{head.dashboard_url}/api/dashboard/alerts/thresholds", json={"cluster_cpu": 0.9})


def test_gpu_and_models_tabs_show_their_empty_states(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "gpu")
    expect(page.locator("#gpu-empty")).to_contain_text("No NVIDIA GPU detected on any worker")
    # and why, from GET /api/llm/gpu/status (here: no NVIDIA driver on this machine)
    expect(page.locator("#gpu-reason")).to_contain_text("NVIDIA driver not found")
    screenshot(page, "gpu")
    page.goto(f"{head.dashboard_url}/#models")
    expect(page.locator("#models-empty")).to_contain_text("No models deployed yet")
    screenshot(page, "models")


def test_dark_theme_and_phone_layout(browser: Any, head: HeadNode) -> None:
    for name, options in {
        "overview-dark": {"viewport": {"width": 1280, "height": 860}, "color_scheme": "dark"},
        "overview-phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
    }.items():
        context = browser.new_context(**options)
        page = context.new_page()
        open_tab(page, head, "overview")
        expect(page.locator("#card-workers .v")).to_have_text("2")
        series_are_drawn(page, "chart-usage", {"CPU", "Memory"})
        # the CPU line is drawn in this theme's accent colour (the dark one is lighter)
        assert colour_pixels(page.locator("#chart-usage"), "--accent") >= 20, name
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
        screenshot(page, name)
        if name == "overview-phone":
            page.goto(f"{head.dashboard_url}/#jobs")
            screenshot(page, "jobs-phone")
        context.close()


def test_the_html_report_opens_offline_and_draws_its_charts(page: Any, head: HeadNode, tmp_path: Any) -> None:
    manager = DashboardManager(head.dashboard_url or "", token=DASH_TOKEN)
    client = head.cluster_manager.client
    client.gather(client.map(abs, range(-200, 0), pure=False))

    def busy_history() -> bool:
        history = manager.generate_dashboard_report()["metrics"]["history"]
        return any((sample.get("tasks_per_second") or 0) > 0 for sample in history)

    wait_for(busy_history, 20, what="the metrics history to record the tasks")
    path = manager.write_html_report(tmp_path / "report.html")
    page.goto(path.as_uri())  # a file: the page fixture fails the test on any fetch from outside
    series_are_drawn(page, "chart-usage", {"CPU", "Memory"})
    # on one machine every byte read over loopback is one written: "write" is drawn over "read"
    series_are_drawn(page, "chart-network", {"write"})
    chart_has_positive_point(page, "chart-throughput")
    screenshot(page, "report")


def test_token_is_asked_for_and_required(page: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    token = "s3cret-dashboard-token"
    node = HeadNode(
        "token-test",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        api_token=token,
        state_dir=str(tmp_path_factory.mktemp("token-state")),
    )
    node.start(n_local_workers=0)
    try:
        url = node.dashboard_url or ""
        for path in ("/api/dashboard/snapshot", "/api/cluster/status", "/api/dashboard/stream"):
            assert httpx.get(f"{url}{path}", headers=BROWSER).status_code == 401, path
        # the token is never taken in the stream's URL, right or wrong; a one-time ticket is
        for value in ("wrong", token):
            assert httpx.get(f"{url}/api/dashboard/stream", params={"token": value}).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        ticket = httpx.post(f"{url}/api/auth/ticket", headers=bearer).json()["ticket"]
        with httpx.stream(
            "GET", f"{url}/api/dashboard/stream", params={"ticket": ticket}, timeout=10
        ) as answer:
            assert answer.status_code == 200
        # the documents' examples: plain requests from the head's own user on this machine
        assert DashboardManager(url).get_cluster_status()["n_workers"] == 0
        assert DashboardManager(url, token=token).get_cluster_status()["n_workers"] == 0
        page.goto(url)
        expect(page.locator("#login")).to_be_visible()
        screenshot(page, "login")
        page.fill("#login-token", "wrong")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("not accepted")
        page.fill("#login-token", token)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login")).to_be_hidden()
        expect(page.locator("#live-pill")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)
        expect(page.locator("#card-health .v")).to_have_text("degraded")  # no workers
        # nothing of the token is kept where scripts can read it
        assert page.evaluate("sessionStorage.length + localStorage.length") <= 1  # the interval only
        assert token not in page.evaluate("document.cookie")
        session = [c for c in page.context.cookies() if c["name"].startswith("pycluster-session-")]
        assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
        expect(page.locator("#sign-out")).to_be_visible()
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()
        assert not [c for c in page.context.cookies() if c["name"].startswith("pycluster-")]
        page.reload()
        expect(page.locator("#login")).to_be_visible()

        # the printed link signs in at once, and the token leaves the address bar
        page.goto(f"{url}/login?{urlencode({'token': token})}")
        assert page.url == f"{url}/"
        expect(page.locator("#login")).to_be_hidden()
        expect(page.locator("#live-pill")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)
        expect(page.locator("#card-health .v")).to_have_text("degraded")
        assert token not in page.evaluate("document.cookie + location.href + document.referrer")
    finally:
        node.shutdown()
