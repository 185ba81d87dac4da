"""The jobs tab as an operator's tool, in a real browser against a real head (one worker).

Job pages with their own address, live logs, tracebacks, durations, Retry and Clone-and-edit,
server-side search and pages, keyboard use, confirmations, honest health when the head goes
away, and the phone tab bar. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycluster import HeadNode, JobStatus
from tests.dashboard.browser import screenshot
from tests.helpers import wait_for

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

LIVE = 20_000  # ms: a shared 2-core machine can be slow to start a page
TOKEN = "dash-jobs-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _start(state_dir: Path, dashboard_port: int = 0) -> HeadNode:
    node = HeadNode(
        "dash-jobs",
        scheduler_port=0,
        dashboard_port=dashboard_port,
        dask_dashboard_port=False,
        state_dir=str(state_dir),
        api_token=TOKEN,  # the same after a restart: the browser's session cookie stays good
    )
    node.start(n_local_workers=1, threads_per_worker=1)
    return node


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[HeadNode]]:
    """The module's head, last in the list (the health test replaces it with a new one)."""
    state = tmp_path_factory.mktemp("dash-jobs-state")
    started = [_start(state)]
    yield started
    for node in started:
        node.shutdown()


@pytest.fixture
def head(heads: list[HeadNode]) -> HeadNode:
    return heads[-1]


def open_page(page: Any, head: HeadNode, where: str) -> None:
    if not any(c["name"].startswith("pycluster-session-") for c in page.context.cookies()):
        page.goto(head.login_url)
    page.goto(f"{head.dashboard_url}/{where}")
    expect(page.locator("#live-pill")).to_have_attribute("data-state", "live", timeout=LIVE)


def _ticker(go_on: str) -> int:
    """Prints, then waits for the file ``go_on`` (the test has seen the line), then prints more."""
    print("tick 0", flush=True)
    deadline = time.monotonic() + 60
    while not Path(go_on).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for i in range(1, 4):
        print(f"tick {i}", flush=True)
    return 3


def test_a_job_page_follows_logs_and_shows_tracebacks_retry_and_clone(
    page: Any, head: HeadNode, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    running = head.jobs.submit(_ticker, str(go_on))
    open_page(page, head, f"#/jobs/{running.job_id}")
    expect(page.locator("#job-drawer")).to_be_visible()
    expect(page.locator("#drawer-title")).to_have_text(running.job_id)
    logs = page.locator("#drawer-logs")
    expect(logs).to_contain_text("stdout: tick 0", timeout=LIVE)
    assert running.status() == JobStatus.RUNNING  # the line came while it ran
    go_on.touch()
    expect(logs).to_contain_text("stdout: tick 3", timeout=LIVE)
    expect(page.locator("#drawer-logs-note")).to_contain_text(
        "completed; these are all its logs", timeout=LIVE
    )
    expect(page.locator("#drawer-body dl")).to_contain_text("1 (no failures")
    expect(page.locator("#drawer-pieces")).to_contain_text("completed")

    failed = head.jobs.submit_job("fail", {"message": "disk on fire"}, retries=1, retry_backoff_s=0)
    wait_for(lambda: head.jobs.get(failed.id).status == JobStatus.FAILED, 30, what="the job to fail")
    page.goto(f"{head.dashboard_url}/#/jobs/{failed.id}")
    expect(page.locator("#drawer-title")).to_have_text(failed.id)
    drawer = page.locator("#drawer-body")
    expect(drawer.locator("details.traceback")).to_have_count(2, timeout=LIVE)
    expect(drawer.locator("details.traceback[open] pre")).to_contain_text("Traceback (most recent call last)")
    expect(drawer.locator("details.traceback[open] pre")).to_contain_text("RuntimeError: disk on fire")
    expect(drawer.locator("dl")).to_contain_text("2 (2 failed; up to 1 retries)")
    expect(page.locator("#drawer-pieces tbody tr")).to_have_count(2)
    expect(page.locator("#drawer-pieces")).to_contain_text("failed: RuntimeError")
    expect(logs).to_contain_text("traceback: Traceback")
    screenshot(page, "job-failed-detail")

    drawer.get_by_role("button", name="Retry").click()
    expect(page).not_to_have_url(re.compile(f"{failed.id}$"))
    expect(drawer).to_contain_text(f"Retry of{failed.id}")
    retried = page.locator("#drawer-title").inner_text()
    assert head.jobs.get(retried).retry_of == failed.id

    drawer.get_by_role("button", name="Clone and edit").click()
    expect(page.locator("#job-drawer")).to_be_hidden()
    expect(page.locator("#job-operation")).to_have_value("fail")
    expect(page.locator("#job-parameters")).to_have_value(re.compile("disk on fire"))
    expect(page.locator("#job-form-note")).to_contain_text(f"Cloned from {retried}")

    done = head.jobs.submit_job("sleep", {"seconds": 0.05, "pieces": 3})
    wait_for(lambda: head.jobs.get(done.id).status == JobStatus.COMPLETED, 30, what="the job to complete")
    page.goto(f"{head.dashboard_url}/#/jobs/{done.id}")
    expect(page.locator(".result-table")).to_contain_text("slept_seconds")
    expect(page.locator("#drawer-pieces tbody tr")).to_have_count(3)
    screenshot(page, "job-completed-detail")


def test_search_pages_and_keyboard(page: Any, head: HeadNode) -> None:
    base = f"{head.dashboard_url}/api/processing/jobs"
    for i in range(27):
        body = {"operation": "echo", "parameters": {"value": i}, "client_id": "needle" if i == 7 else "bulk"}
        assert httpx.post(f"{base}/submit", json=body, headers=AUTH).status_code == 200
    failed = head.jobs.submit_job("fail", {"message": "for the filter"}, retries=0)
    wait_for(lambda: head.jobs.get(failed.id).status == JobStatus.FAILED, 30, what="the job to fail")
    total = httpx.get(f"{base}/list", headers=AUTH).json()["total"]
    open_page(page, head, "#jobs")
    expect(page.locator("#jobs-range")).to_have_text(f"1-25 of {total}", timeout=LIVE)
    page.click("#jobs-next")
    expect(page.locator("#jobs-range")).to_have_text(f"26-{total} of {total}")
    page.fill("#job-search", "needle")
    expect(page.locator("#jobs-body tr")).to_have_count(1)
    expect(page.locator("#jobs-range")).to_have_text("1-1 of 1")
    page.fill("#job-search", "")
    page.select_option("#job-filter", "failed")
    expect(page.locator("#jobs-body .badge.failed")).not_to_have_count(0)
    page.select_option("#job-filter", "all")
    expect(page.locator("#jobs-body tr")).to_have_count(25)

    first = page.locator("#jobs-body tr .job-link").first
    first.focus()
    page.keyboard.press("ArrowDown")
    second_id = page.locator("#jobs-body tr").nth(1).get_attribute("data-job-id")
    expect(page.locator("#jobs-body tr").nth(1).locator(".job-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"#/jobs/{second_id}$"))
    expect(page.locator("#drawer-title")).to_have_text(second_id or "")
    page.keyboard.press("Escape")
    expect(page.locator("#job-drawer")).to_be_hidden()
    expect(page).to_have_url(re.compile("#jobs$"))
    expect(page.locator("#jobs-body tr").nth(1).locator(".job-link")).to_be_focused()


def test_cancel_asks_first_and_says_what_it_stops(page: Any, head: HeadNode) -> None:
    job = head.jobs.submit_job("sleep", {"seconds": 0.5, "pieces": 40})
    wait_for(lambda: head.jobs.get(job.id).status == JobStatus.RUNNING, 30, what="the job to run")
    open_page(page, head, "#jobs")
    page.select_option("#job-filter", "running")
    row = page.locator(f'#jobs-body tr[data-job-id="{job.id}"]')
    row.locator("button.cancel").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Cancel job {job.id} (sleep)?")
    expect(dialog).to_contain_text("its running pieces are stopped")
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()  # a stray Enter stops nothing
    screenshot(page, "jobs-cancel-confirm")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert head.jobs.get(job.id).status == JobStatus.RUNNING
    row.locator("button.cancel").click()
    dialog.get_by_role("button", name="Cancel job").click()
    wait_for(lambda: head.jobs.get(job.id).status == JobStatus.CANCELLED, 20, what="the job to cancel")
    expect(row).to_have_count(0)


# the tab's link lies inside the screen, and what is at its two ends is the link itself
SHOWS_WHOLE = """tab => {
  const link = document.querySelector(`#tabs a[data-tab='${tab}']`);
  const r = link.getBoundingClientRect();
  const y = r.top + r.height / 2;
  const ends = [r.left + 2, r.right - 2].map((x) => document.elementFromPoint(x, y));
  return r.left >= -1 && r.right <= window.innerWidth + 1 && ends.every((el) => el && link.contains(el));
}"""


WHERE = """tab => {
  const tabs = document.getElementById("tabs");
  const r = document.querySelector(`#tabs a[data-tab='${tab}']`).getBoundingClientRect();
  const y = r.top + r.height / 2;
  const ends = [r.left + 2, r.right - 2].map((x) => (document.elementFromPoint(x, y) || {}).outerHTML);
  const where = ends.map((e) => String(e).slice(0, 50));
  return { left: r.left, right: r.right, scroll: tabs.scrollLeft, ends: where };
}"""


def test_phone_tab_bar_shows_it_scrolls_and_every_tab_fits(browser: Any, head: HeadNode) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_page(page, head, "#overview")
        right = page.locator("#tabs-right")
        expect(right).to_be_visible()  # there is more to the right, and it says so
        expect(page.locator("#tabs-left")).to_be_hidden()
        screenshot(page, "tabs-phone")
        right.click()
        expect(page.locator("#tabs-left")).to_be_visible()
        for tab in ["workers", "tasks", "jobs", "monitoring", "gpu", "models", "overview"]:
            page.goto(f"{head.dashboard_url}/#{tab}")
            link = page.locator(f'#tabs a[data-tab="{tab}"]')
            expect(link).to_have_attribute("aria-current", "page")
            expect(page.locator(f'[data-panel="{tab}"]')).to_be_visible()
            try:  # not cut off, not under an arrow
                page.wait_for_function(SHOWS_WHOLE, arg=tab, timeout=5000)
            except Exception:
                where = page.evaluate(WHERE, tab)
                raise AssertionError(f"the {tab} tab does not show whole at 390 px: {where}") from None
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"#{tab} is {overflow}px wider than a 390 px phone"
        page.goto(f"{head.dashboard_url}/#jobs")
        screenshot(page, "jobs-phone-tabs")
    finally:
        context.close()


def test_health_marks_the_head_unreachable_and_says_when_data_resumed(
    page: Any, heads: list[HeadNode], tmp_path_factory: pytest.TempPathFactory
) -> None:
    old = heads[-1]
    port = int(str(old.dashboard_url).rsplit(":", 1)[1])
    open_page(page, old, "#overview")
    expect(page.locator("#card-health .v")).to_have_text("healthy")
    stopping = threading.Thread(target=old.shutdown)
    stopping.start()

    def refused() -> bool:
        try:
            httpx.get(f"{old.dashboard_url}/api/processing/health", timeout=0.5)
        except httpx.HTTPError:
            return True
        return False

    wait_for(refused, 30, interval=0.05, what="the head's web server to stop")
    # within 3 s of the stream's loss: unreachable, numbers greyed, no "healthy"
    expect(page.locator("body")).to_have_class(re.compile("stale"), timeout=3000)
    expect(page.locator("#live-pill")).to_have_attribute("data-state", "offline", timeout=100)
    expect(page.locator("#health-banner")).to_contain_text("The head is unreachable since")
    expect(page.locator("#card-health .v")).to_have_text("Unreachable")
    screenshot(page, "health-unreachable")
    stopping.join(60)
    heads.remove(old)
    heads.append(_start(old.state_dir, dashboard_port=port))
    expect(page.locator("#health-banner")).to_contain_text("Data resumed at", timeout=LIVE)
    expect(page.locator("body")).not_to_have_class(re.compile("stale"))
    expect(page.locator("#live-pill")).to_have_attribute("data-state", "live")
    expect(page.locator("#card-health .v")).to_have_text("healthy", timeout=LIVE)
    screenshot(page, "health-resumed")
