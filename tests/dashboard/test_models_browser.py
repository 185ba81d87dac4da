"""The Models tab in a real browser: deploy a tiny local model from the form, watch its
requests/s and latency move, scale it and undeploy it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycluster import HeadNode
from tests.dashboard.browser import screenshot
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


def test_deploy_watch_scale_and_undeploy_from_the_models_tab(
    page: Any, head: HeadNode, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    open_tab(page, head, "models")
    expect(page.locator("#models-empty")).to_contain_text("No models deployed yet")

    page.fill("#deploy-model", "/no/such/model")
    page.click("#deploy-submit")
    expect(page.locator("#deploy-error")).to_contain_text("/no/such/model")  # the head's reason, not a crash

    page.fill("#deploy-model", str(model_dir))
    page.fill("#deploy-gpus", "0")
    page.fill("#deploy-length", str(CONTEXT))
    page.click("#deploy-submit")
    row = page.locator("#models-body tr")
    expect(row).to_have_count(1, timeout=LIVE_TIMEOUT)
    expect(row.locator(".badge")).to_have_text("ready", timeout=120_000)
    deployment = row.get_attribute("data-deployment-id")
    expect(row).to_contain_text("1/1 ready")
    expect(row).to_contain_text("fp32")  # the CPU fallback, shown with the model

    with httpx.Client(base_url=head.dashboard_url or "", timeout=120) as api:
        for i in range(4):
            body = {"prompt": f"the quick brown fox {i}", "max_tokens": 8}
            assert api.post(f"/api/llm/models/{deployment}/inference", json=body).status_code == 200
    latency = row.locator("td[data-label='Latency p50 / p99']")
    expect(latency).to_contain_text(" ms", timeout=LIVE_TIMEOUT)
    expect(row.locator("td[data-label='Requests/s']")).not_to_have_text("0.00")
    screenshot(page, "models")

    row.locator("input[type=number]").fill("2")
    row.get_by_role("button", name=f"Scale {deployment}").click()
    expect(row).to_contain_text("2/2 ready", timeout=120_000)

    row.get_by_role("button", name=f"Undeploy {deployment}").click()
    expect(page.locator("#models-empty")).to_be_visible(timeout=LIVE_TIMEOUT)
    assert page.errors == [] and page.dialogs == []
