"""The operator's dashboard in a real browser: task stream and durations, queue start/stop and
cancelling a running job, worker detail with logs and restart, the Overview network chart, an
aggregated failure alert, and a hidden tab letting its stream go. Screenshots go to
test-artifacts/dashboard/ops-*.png."""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pycluster import HeadNode
from tests.dashboard.browser import answer_confirmation, legend, screenshot, series_are_drawn
from tests.helpers import running_head, wait_for

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

LIVE_TIMEOUT = 20_000


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("dash-ops-ui", tmp_path_factory.mktemp("ops-ui-state"), workers=2) as node:
        yield node


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page that records any JavaScript error (confirmations: answer_confirmation)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script("localStorage.setItem('pycluster-interval', '1')")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


def open_tab(page: Any, head: HeadNode, tab: str) -> None:
    if not any(c["name"].startswith("pycluster-session-") for c in page.context.cookies()):
        page.goto(head.login_url)  # a browser is never trusted as the local user: sign in
    page.goto(f"{head.dashboard_url}/#{tab}")
    expect(page.locator("#live-pill")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)


def api(head: HeadNode) -> httpx.Client:
    return httpx.Client(base_url=head.dashboard_url or "", timeout=30)


def test_task_stream_durations_and_queue_controls(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "tasks")
    client = head.cluster_manager.client
    client.gather(client.map(time.sleep, [0.05] * 40, pure=False))
    expect(page.locator("#functions-body tr[data-function=sleep]")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("#task-stream")).to_be_visible()
    lanes = re.compile("40 tasks on 2 workers")  # each look adds what is new since the last one
    expect(page.locator("#task-stream")).to_have_attribute("aria-label", lanes, timeout=LIVE_TIMEOUT)
    # stop: the queue pauses (after a confirmation that says what it stops), a job waits
    page.click("#dispatch-pause")
    assert "No queued job will start" in answer_confirmation(page, True)
    expect(page.locator("#dispatch-state")).to_have_text("paused")
    # a pause can be taken back from its toast
    page.locator(".toast", has_text="Job queue paused").get_by_role("button", name="Undo").click()
    expect(page.locator("#dispatch-state")).to_have_text("dispatching")
    page.click("#dispatch-pause")
    answer_confirmation(page, True)
    expect(page.locator("#dispatch-state")).to_have_text("paused")
    with api(head) as rest:
        job_id = rest.post(
            "/api/processing/jobs/submit",
            json={"operation": "sleep", "parameters": {"seconds": 2, "pieces": 6}},
        ).json()["job_id"]
        time.sleep(1.5)
        assert rest.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "queued"
        screenshot(page, "ops-tasks-paused")
        page.click("#dispatch-resume")  # start: no confirmation needed
        expect(page.locator("#dispatch-state")).to_have_text("dispatching")
        row = page.locator(f"#running-jobs li[data-job={job_id}]")
        expect(row).to_be_visible(timeout=LIVE_TIMEOUT)
        screenshot(page, "ops-tasks")
        row.locator("button").click()  # a stray click: dismissed, the job goes on
        answer_confirmation(page, False)
        time.sleep(0.5)
        assert rest.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "running"
        row.locator("button").click()
        assert "unfinished piece" in answer_confirmation(page, True)
        wait_for(
            lambda: rest.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "cancelled", 20
        )
    expect(row).to_have_count(0, timeout=LIVE_TIMEOUT)


def test_worker_detail_logs_and_restart(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "workers")
    first = page.locator("#workers-body tr").first
    address = first.get_attribute("data-address")
    first.locator("button.link-button").click()
    expect(page.locator("#wd-address")).to_have_text(address or "")
    expect(page.locator("#wd-memory")).to_contain_text("unmanaged", timeout=LIVE_TIMEOUT)
    expect(page.locator("#wd-memory")).to_contain_text("spilled")
    expect(page.locator("#wd-logs")).to_contain_text("Start worker", timeout=LIVE_TIMEOUT)
    expect(page.locator("#wd-uptime")).to_contain_text("s")
    screenshot(page, "ops-worker-detail")
    page.click("#wd-restart")
    assert "Restart worker" in answer_confirmation(page, False)
    expect(page.locator("#worker-detail")).to_be_visible()  # dismissed: nothing happened
    page.click("#wd-restart")
    answer_confirmation(page, True)
    expect(page.locator(f"#workers-body tr[data-address='{address}']")).to_have_count(0, timeout=LIVE_TIMEOUT)
    expect(page.locator("#workers-body tr")).to_have_count(
        2, timeout=60_000
    )  # its supervisor started a new one


def test_network_chart_and_one_alert_for_a_burst_of_failures(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "overview")
    # in and out per second; on one machine every byte in over loopback is one out: "out" covers "in"
    series_are_drawn(page, "chart-overview-network", {"out"})
    assert set(legend(page.locator("#chart-overview-network"))) == {"time", "in", "out"}
    expect(page.locator("#overview-network-now")).to_contain_text("/s")
    screenshot(page, "ops-overview-network")
    client = head.cluster_manager.client
    futures = []
    for _ in range(2):  # a metrics sample (2 s) apart: still one burst
        futures += client.map(operator.truediv, range(6), [0] * 6, pure=False)
        time.sleep(2.5)
    page.goto(f"{head.dashboard_url}/#monitoring")
    alert = page.locator("#alerts-list li", has_text="tasks failed")
    expect(alert).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(alert).to_contain_text("12 tasks failed since", timeout=LIVE_TIMEOUT)
    screenshot(page, "ops-alerts")
    del futures


def test_a_hidden_tab_lets_its_delta_stream_go(page: Any, head: HeadNode) -> None:
    open_tab(page, head, "overview")
    feed = head.services["web"].server.app.state.live_feed
    wait_for(lambda: feed.producers.get(1) == 1, 10, what="the page's stream")
    subscribers = feed._producers[1].subscribers
    assert all(s.deltas for s in subscribers)  # the dashboard asks for deltas
    page.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                   Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    wait_for(lambda: 1 not in feed.producers, 15, what="the hidden tab to close its stream")
    page.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {value: false, configurable: true});
                   Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    wait_for(lambda: feed.producers.get(1) == 1, 10, what="the stream back when visible")
