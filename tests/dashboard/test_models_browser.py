"""The Models tab in a real browser: the form's defaults on a cluster without GPUs, deploy a
tiny local model from the form, watch its requests/s and latency move, try a prompt (streamed),
stop / start / restart it (REST and buttons, with confirmations), scale it and undeploy it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycluster import HeadNode
from tests.dashboard.browser import answer_confirmation, screenshot
from tests.dashboard.test_dashboard_browser import LIVE_TIMEOUT, expect, open_tab
from tests.helpers import running_head
from tests.llm.tiny_model import CONTEXT, build_tiny_model

pytestmark = pytest.mark.browser

pytest.importorskip("torch", reason="the Models tab test deploys a model: needs the llm extra (torch)")
pytest.importorskip("transformers", reason="the Models tab test deploys a model: needs transformers")


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("models-ui", tmp_path_factory.mktemp("models-ui-state")) as node:
        yield node


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("ui-model"))


def click_and_answer(page: Any, button: Any, confirm: str | None) -> str:
    """Click a button that asks first; agree when ``confirm`` (the button's label) is given. The question."""
    button.click()
    if confirm is not None:
        expect(page.locator("dialog.confirm").get_by_role("button", name=confirm)).to_be_visible()
    return answer_confirmation(page, confirm is not None)


def test_deploy_watch_try_stop_start_restart_scale_and_undeploy_from_the_models_tab(
    page: Any, head: HeadNode, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    open_tab(page, head, "overview")  # this cluster has no GPU, and the Overview's GPU card says so
    expect(page.locator("#card-gpu .v")).to_have_text("none", timeout=LIVE_TIMEOUT)
    expect(page.locator("#card-gpu .stat-sub")).to_have_text("no NVIDIA GPU on any worker")
    page.goto(f"{head.dashboard_url}/#models")
    expect(page.locator("#models-empty")).to_contain_text("No models deployed yet")
    # this cluster has no GPU: the form says so and defaults to CPU replicas
    expect(page.locator("#deploy-gpus-help")).to_contain_text("no GPU", timeout=LIVE_TIMEOUT)
    expect(page.locator("#deploy-gpus")).to_have_value("0")
    expect(page.locator("#deploy-precision")).to_have_value("fp32")

    page.fill("#deploy-model", "/no/such/model")
    page.click("#deploy-submit")
    expect(page.locator("#deploy-error")).to_contain_text("/no/such/model")  # the head's reason, not a crash

    page.fill("#deploy-model", str(model_dir))
    page.fill("#deploy-length", str(CONTEXT))
    page.click("#deploy-submit")  # with the cluster's defaults: 0 GPUs per replica
    row = page.locator("#models-body tr")
    expect(row).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(row.locator(".badge")).to_have_text("ready", timeout=120_000)
    deployment = row.get_attribute("data-deployment-id")
    expect(row).to_contain_text("1/1 ready")
    expect(row).to_contain_text("fp32")  # the CPU fallback, shown with the model

    api = httpx.Client(base_url=head.dashboard_url or "", timeout=120)
    for i in range(4):
        body = {"prompt": f"the quick brown fox {i}", "max_tokens": 8}
        assert api.post(f"/api/llm/models/{deployment}/inference", json=body).status_code == 200
    latency = row.locator("td[data-label='Latency p50 / p99']")
    expect(latency).to_contain_text(" ms", timeout=LIVE_TIMEOUT)
    expect(row.locator("td[data-label='Requests/s']")).not_to_have_text("0.00")
    expect(row.locator("td[data-label='Requests/s']")).to_contain_text("4 requests")

    # try a prompt: the answer streams into the box, and the request counts like any other
    page.select_option("#try-deployment", deployment)
    page.fill("#try-prompt", "a cluster runs tasks")
    page.fill("#try-max-tokens", "12")
    page.click("#try-submit")
    expect(page.locator("#try-stats")).to_contain_text("tokens ·", timeout=LIVE_TIMEOUT)
    assert page.locator("#try-output").inner_text().strip()
    expect(row.locator("td[data-label='Requests/s']")).to_contain_text("5 requests", timeout=LIVE_TIMEOUT)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky tab bar would cover a scrolled full-page shot
    screenshot(page, "models")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the row's buttons and the box fit
    expect(row.get_by_role("button", name=f"Restart {deployment}")).to_be_visible()
    assert page.locator("#panel-models").evaluate("(el) => el.scrollWidth <= el.clientWidth")
    assert row.locator(".row-actions").bounding_box()["width"] > 200  # the buttons span the card's width
    screenshot(page, "models-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    # stop asks first, naming what it stops; dismissed, nothing happens
    asked = click_and_answer(page, row.get_by_role("button", name=f"Stop {deployment}"), None)
    assert "stops its 1 replica on " in asked
    expect(row.locator(".badge")).to_have_text("ready")
    click_and_answer(page, row.get_by_role("button", name=f"Stop {deployment}"), "Stop")
    expect(row.locator(".badge")).to_have_text("stopped", timeout=LIVE_TIMEOUT)
    expect(page.locator("#try-submit")).to_be_disabled()
    stopped = api.post(f"/api/llm/models/{deployment}/inference", json={"prompt": "x", "max_tokens": 2})
    assert stopped.status_code == 409 and "stopped" in stopped.json()["detail"]
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "models-stopped")
    row.get_by_role("button", name=f"Start {deployment}").click()  # starting stops nothing: no question
    expect(row.locator(".badge")).to_have_text("ready", timeout=120_000)
    assert api.post(f"/api/llm/models/{deployment}/start").status_code == 409  # it is not stopped

    assert "loads them again" in click_and_answer(
        page, row.get_by_role("button", name=f"Restart {deployment}"), "Restart"
    )
    expect(page.locator("#toasts")).to_contain_text(f"Restarting {deployment}")
    expect(row.locator(".badge")).to_have_text("ready", timeout=120_000)
    assert api.post(
        f"/api/llm/models/{deployment}/inference", json={"prompt": "x", "max_tokens": 2}
    ).is_success

    row.locator("input[type=number]").fill("2")
    row.get_by_role("button", name=f"Scale {deployment}").click()
    expect(row).to_contain_text("2/2 ready", timeout=120_000)

    asked = click_and_answer(page, row.get_by_role("button", name=f"Undeploy {deployment}"), "Undeploy")
    assert "cannot be undone" in asked and "2 replicas" in asked
    expect(page.locator("#models-empty")).to_be_visible(timeout=LIVE_TIMEOUT)
    assert api.post(f"/api/llm/models/{deployment}/stop").status_code == 404
    api.close()
    assert page.errors == []
