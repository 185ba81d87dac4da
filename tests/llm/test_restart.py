"""A deployment outlives its head: a head restarted on the same state dir loads it again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import running_head

from .tiny_model import CONTEXT

pytestmark = pytest.mark.slow

PROMPT = "a cluster runs"


@contextmanager
def _head_api(state_dir: Path, workers: int = 1) -> Iterator[httpx.Client]:
    with (
        running_head("llm-restart", state_dir, workers=workers) as head,
        httpx.Client(base_url=head.dashboard_url or "", timeout=120) as api,
    ):
        yield api


def _infer(api: httpx.Client, dep: str) -> dict:
    return api.post(f"/api/llm/models/{dep}/inference", json={"prompt": PROMPT, "max_tokens": 6}).json()


def test_deployments_are_redeployed_when_the_head_restarts(tmp_path: Path, tiny_model: Path) -> None:
    with _head_api(tmp_path) as api:
        body = {
            "model_name": str(tiny_model),
            "gpu_per_replica": 0,
            "max_sequence_length": CONTEXT,
            "wait": True,
        }
        dep = api.post("/api/llm/models/deploy", json=body).json()["deployment_id"]
        before = _infer(api, dep)

    with _head_api(tmp_path) as api:
        listed = api.get("/api/llm/models").json()["deployments"]
        assert [d["deployment_id"] for d in listed] == [dep]  # listed at once, while it loads
        after = _infer(api, dep)  # sent while it loads: waits for the replica instead of failing
        assert api.get(f"/api/llm/models/{dep}").json()["status"] == "ready"
        assert after["text"] == before["text"]
        assert api.delete(f"/api/llm/models/{dep}").status_code == 200

    # undeployed means gone for good (only listed: no worker needed to load anything)
    with _head_api(tmp_path, workers=0) as api:
        assert api.get("/api/llm/models").json()["deployments"] == []
