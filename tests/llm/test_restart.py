"""A deployment outlives its head: a head restarted on the same state dir loads it again."""

from __future__ import annotations

from pathlib import Path

import httpx

from pycluster import HeadNode

from .tiny_model import CONTEXT

PROMPT = "a cluster runs"


def _head(state_dir: Path) -> HeadNode:
    node = HeadNode(
        "llm-restart", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=str(state_dir)
    )
    node.start(n_local_workers=1, threads_per_worker=1)
    return node


def test_deployments_are_redeployed_when_the_head_restarts(tmp_path: Path, tiny_model: Path) -> None:
    first = _head(tmp_path)
    try:
        with httpx.Client(base_url=first.dashboard_url or "", timeout=120) as api:
            body = {
                "model_name": str(tiny_model),
                "gpu_per_replica": 0,
                "max_sequence_length": CONTEXT,
                "wait": True,
            }
            dep = api.post("/api/llm/models/deploy", json=body).json()["deployment_id"]
            before = api.post(
                f"/api/llm/models/{dep}/inference", json={"prompt": PROMPT, "max_tokens": 6}
            ).json()
    finally:
        first.shutdown()

    second = _head(tmp_path)
    try:
        with httpx.Client(base_url=second.dashboard_url or "", timeout=120) as api:
            listed = api.get("/api/llm/models").json()["deployments"]
            assert [d["deployment_id"] for d in listed] == [dep]  # listed at once, while it loads
            # a request sent while it loads waits for the replica instead of failing
            after = api.post(
                f"/api/llm/models/{dep}/inference", json={"prompt": PROMPT, "max_tokens": 6}
            ).json()
            assert api.get(f"/api/llm/models/{dep}").json()["status"] == "ready"
            assert after["text"] == before["text"]
            assert api.delete(f"/api/llm/models/{dep}").status_code == 200
    finally:
        second.shutdown()

    third = _head(tmp_path)  # undeployed means gone for good
    try:
        with httpx.Client(base_url=third.dashboard_url or "", timeout=120) as api:
            assert api.get("/api/llm/models").json()["deployments"] == []
    finally:
        third.shutdown()
