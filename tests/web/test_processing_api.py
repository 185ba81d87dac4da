"""The processing cluster's REST API, as the document's Python client example uses it."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from pycluster import HeadNode
from tests.helpers import wait_for, wait_for_job


def test_documented_client_flow(api: httpx.Client) -> None:
    started = api.post("/api/processing/cluster/start").json()
    assert started["message"] == "Cluster is already running"
    assert started["cluster_info"]["n_workers"] == 2
    job = {
        "operation": "sleep",
        "parameters": {"seconds": 0.2, "pieces": 4},
        "priority": "HIGH",
        "max_memory_gb": 0.5,
        "max_cores": 2,
    }
    response = api.post("/api/processing/jobs/submit", json=job)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Job submitted successfully" and body["status"] == "pending"
    assert body["job_id"].startswith("job_")
    final = wait_for_job(api, body["job_id"])
    assert final["status"] == "completed"
    assert final["priority"] == "HIGH" and final["progress"] == 100.0
    assert final["result"] == {"pieces": 4, "slept_seconds": 0.8}
    assert final["created_at"].endswith("Z") and final["started_at"] and final["finished_at"]


def test_progress_and_eta_while_running(api: httpx.Client) -> None:
    job_id = api.post(
        "/api/processing/jobs/submit",
        json={"operation": "sleep", "parameters": {"seconds": 0.3, "pieces": 8}},
    ).json()["job_id"]
    midway = wait_for(
        lambda: (
            (s := api.get(f"/api/processing/jobs/{job_id}/status").json()) and 0 < s["progress"] < 100 and s
        ),
        30,
    )
    assert midway["status"] == "running" and midway["eta_seconds"] > 0
    assert midway["pieces_total"] == 8
    assert wait_for_job(api, job_id)["status"] == "completed"


def test_list_filter_and_paging(api: httpx.Client) -> None:
    ids = [
        api.post(
            "/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": i}}
        ).json()["job_id"]
        for i in range(3)
    ]
    for job_id in ids:
        assert wait_for_job(api, job_id)["result"]["echo"] in {0, 1, 2}
    listing = api.get("/api/processing/jobs/list", params={"status": "completed", "limit": 2}).json()
    assert listing["total"] >= 3 and len(listing["jobs"]) == 2
    assert all(j["status"] == "completed" for j in listing["jobs"])
    assert {"job_id", "type", "operation", "status", "priority", "progress", "created_at"} <= set(
        listing["jobs"][0]
    )
    page2 = api.get(
        "/api/processing/jobs/list", params={"status": "completed", "limit": 2, "offset": 2}
    ).json()
    assert {j["job_id"] for j in page2["jobs"]}.isdisjoint({j["job_id"] for j in listing["jobs"]})


def test_status_is_answered_while_a_commit_holds_the_database(api: httpx.Client, api_head: HeadNode) -> None:
    """A status read never waits for the group commit: the committer's write transaction is
    held open here (as while it writes a batch) and the status of a stored job still comes."""
    job_id = api.post(
        "/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": 7}}
    ).json()["job_id"]
    assert wait_for_job(api, job_id)["status"] == "completed"  # now read from its row
    holding, release = threading.Event(), threading.Event()

    def commit_in_progress() -> None:
        with api_head.jobs.store.transaction():
            holding.set()
            release.wait(30)

    committer = threading.Thread(target=commit_in_progress)
    committer.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        answer = api.get(f"/api/processing/jobs/{job_id}/status", timeout=5)
        took = time.monotonic() - started
        assert answer.status_code == 200 and answer.json()["result"] == {"echo": 7}
        assert took < 2, f"the status read waited {took:.1f} s for the write transaction"
    finally:
        release.set()
        committer.join(10)


def test_cancel_running_then_409_on_finished(api: httpx.Client) -> None:
    job_id = api.post(
        "/api/processing/jobs/submit",
        json={"operation": "sleep", "parameters": {"seconds": 0.5, "pieces": 20}},
    ).json()["job_id"]
    wait_for(lambda: api.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "running", 30)
    cancelled = api.post(f"/api/processing/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    status = api.get(f"/api/processing/jobs/{job_id}/status").json()
    assert status["status"] == "cancelled" and status["pieces_done"] < 20
    again = api.post(f"/api/processing/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_queue_status_metrics_and_health(api: httpx.Client) -> None:
    queue = api.get("/api/processing/queue/status").json()
    assert queue["scheduler_running"] is True
    assert {"total_queued", "total_running", "total_completed", "priority_breakdown"} <= set(
        queue["queue_status"]
    )
    resources = queue["resource_usage"]["cluster_resources"]
    assert resources["total_cores"] == 2 and resources["total_memory_gb"] > 0
    metrics = wait_for(
        lambda: (
            api.get("/api/processing/metrics/cluster").json()["total"] > 0
            and api.get("/api/processing/metrics/cluster").json()
        ),
        20,
    )
    assert {"timestamp", "n_workers", "total_memory", "used_memory", "total_cores", "active_tasks"} <= set(
        metrics["metrics"][0]
    )
    health = api.get("/api/processing/health").json()
    assert health["status"] == "healthy" and health["cluster_running"] is True
    current = api.get("/api/cluster/metrics").json()["current"]
    assert current["n_workers"] == 2


def test_prometheus_metrics(api: httpx.Client) -> None:
    api.post("/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": 1}})
    text = api.get("/metrics").text
    assert "# TYPE pycluster_workers gauge" in text and "pycluster_workers 2" in text
    assert 'pycluster_jobs{priority="NORMAL",status="completed"}' in text
    assert "pycluster_queue_depth" in text and "pycluster_tasks_completed_total" in text


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"operation": "sleep", "priority": "URGENT"}, "priority"),
        ({"operation": "sleep", "max_cores": -1}, "max_cores"),
        ({"operation": "sleep", "max_memory_gb": 1e12}, "max_memory_gb"),
        ({"operation": "sleep", "retries": 1000}, "retries"),
        ({"operation": "sleep", "colour": "red"}, "colour"),
        ({"parameters": {}}, "operation"),
    ],
)
def test_bad_submissions_are_422_naming_the_field(api: httpx.Client, payload: dict, field: str) -> None:
    response = api.post("/api/processing/jobs/submit", json=payload)
    assert response.status_code == 422
    assert field in response.text


def test_semantic_errors_are_4xx_with_reasons(api: httpx.Client) -> None:
    unknown_op = api.post("/api/processing/jobs/submit", json={"operation": "teleport"})
    assert unknown_op.status_code == 422 and "available: aggregate" in unknown_op.json()["detail"]
    bad_param = api.post(
        "/api/processing/jobs/submit", json={"operation": "sleep", "parameters": {"seconds": -3}}
    )
    # refused by the body's schema (one variant per operation): the field's path and the bound
    assert bad_param.status_code == 422, bad_param.text
    assert bad_param.json()["detail"][0]["loc"][-2:] == ["parameters", "seconds"], bad_param.text
    assert "greater than or equal to 0" in bad_param.text
    # a body the schema allows, but more than the cluster has: a conflict with the cluster (409)
    too_big = api.post("/api/processing/jobs/submit", json={"operation": "sleep", "max_cores": 64})
    assert too_big.status_code == 409 and "whole cluster" in too_big.json()["detail"]
    missing = api.get("/api/processing/jobs/job_nope/status")
    assert missing.status_code == 404 and "job_nope" in missing.json()["detail"]
    invalid_json = api.post(
        "/api/processing/jobs/submit", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert invalid_json.status_code == 422
    huge = api.post(
        "/api/processing/jobs/submit", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413
    bad_status = api.get("/api/processing/jobs/list", params={"status": "sleeping"})
    assert bad_status.status_code == 422
    stop = api.post("/api/processing/cluster/stop")
    assert stop.status_code == 409 and "served by the head node" in stop.json()["detail"]


def test_start_head_and_start_worker(api: httpx.Client, api_head: HeadNode) -> None:
    again = api.post("/api/cluster/start-head").json()
    assert again["status"] == "already_running" and again["scheduler_address"] == api_head.scheduler_address
    added = api.post("/api/cluster/start-worker", json={"n_workers": 1, "threads_per_worker": 1})
    assert added.status_code == 200, added.text
    assert wait_for(lambda: api.get("/api/cluster/workers").json()["n_workers"] == 3, 30)
    scaled = api.post("/api/processing/cluster/scale", json={"n_workers": 2})
    assert scaled.status_code == 200
    wait_for(lambda: api.get("/api/cluster/workers").json()["n_workers"] == 2, 30)
    assert api.post("/api/processing/cluster/scale", json={"n_workers": -1}).status_code == 422


def test_api_token_required_when_set(tmp_path) -> None:
    with HeadNode(
        "secured",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        api_token="s3cret-token",
        state_dir=str(tmp_path),
    ) as node:
        node.start(n_local_workers=0)
        base = node.dashboard_url
        # this process is the head's own user on loopback (trusted without the token), so the
        # requests that must be refused come through a "proxy" (tests/web/test_auth.py has the rest)
        proxied = {"X-Forwarded-For": "203.0.113.7"}
        for path in ("/api/health", "/api/cluster/status", "/api/processing/jobs/list", "/metrics"):
            denied = httpx.get(f"{base}{path}", headers=proxied, timeout=10)
            assert denied.status_code == 401, path
            assert "Bearer" in denied.json()["detail"]
        wrong = httpx.get(f"{base}/api/health", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        ok = httpx.get(
            f"{base}/api/health", headers={**proxied, "Authorization": "Bearer s3cret-token"}, timeout=10
        )
        assert ok.status_code == 200
        started = time.monotonic()
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200  # docs stay readable
        assert time.monotonic() - started < 10
