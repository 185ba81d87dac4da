"""A deployment outlives its head: a head restarted on the same state dir loads it again."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import CliProcess, descendants, running_head

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


def _subprocess_head(state_dir: Path) -> tuple[CliProcess, httpx.Client]:
    head = CliProcess(
        "head", "--cluster-name", "llm-killed", "--scheduler-port", "0", "--dashboard-port", "0",
        "--dask-dashboard-port", "off", "--no-discovery", "--nworkers", "1", "--nthreads", "1",
        "--state-dir", str(state_dir),
    )  # fmt: skip
    url = head.wait_for_line(r"dashboard:\s+(http://127\.0\.0\.1:\d+)", 120).group(1)
    return head, httpx.Client(base_url=url, timeout=120)


def _versions(api: httpx.Client) -> list[tuple[str, float, str]]:
    listed = api.get("/api/llm/models/versions", params={"name": "killed"}).json()["versions"]
    status = {d["version"]: d["status"] for d in api.get("/api/llm/models").json()["deployments"]}
    return [(v["version"], v["weight"], status[v["version"]]) for v in listed]


def test_versions_traffic_and_stopped_state_outlive_a_killed_head_process(
    tmp_path: Path, tiny_model: Path
) -> None:
    body = {
        "model_name": str(tiny_model),
        "gpu_per_replica": 0,
        "max_sequence_length": CONTEXT,
        "name": "killed",
    }
    head, api = _subprocess_head(tmp_path)
    try:
        v1 = api.post("/api/llm/models/deploy", json={**body, "wait": True}).json()["deployment_id"]
        v2 = api.post("/api/llm/models/deploy", json=body).json()["deployment_id"]
        assert api.put(
            "/api/llm/models/traffic", json={"name": "killed", "weights": {"1": 70, "2": 30}}
        ).is_success
        assert api.post(f"/api/llm/models/{v2}/stop").json()["status"] == "stopped"
        before = _versions(api)
        assert before == [("1", 70.0, "ready"), ("2", 30.0, "stopped")], before
        text = _infer(api, "killed@1")["text"]
    finally:  # no shutdown: the head and its workers die at once, as in a power cut
        api.close()
        processes = [head.proc.pid, *(p.pid for p in descendants(head.proc.pid))]
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        head.stop()
    head, api = _subprocess_head(tmp_path)
    try:
        assert _infer(api, "killed@1")["text"] == text  # waits for the replica loading again
        assert _versions(api) == before  # weights, and v2 still stopped (nothing loaded for it)
        assert api.get(f"/api/llm/models/{v2}").json()["replicas"] == 0
        assert api.get(f"/api/llm/models/{v1}").json()["status"] == "ready"
    finally:
        api.close()
        assert head.stop() == 0
