"""A queued job always says why it waits, in Python and REST, and is looked at again when workers join."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import api_client, running_head, wait_for


@pytest.mark.slow
def test_waiting_reasons_follow_the_workers_that_join(tmp_path: Path) -> None:
    with running_head("waiting", tmp_path / "state", workers=0) as node, api_client(node) as api:
        huge = api.post("/api/processing/jobs/submit", json={"operation": "echo", "max_memory_gb": 500})
        small = node.jobs.submit(abs, -1, max_memory_gb=0.1)
        assert huge.status_code == 200, huge.text  # no workers yet: it cannot be judged, so it waits
        huge_id = huge.json()["job_id"]

        def reason() -> str:
            return str(api.get(f"/api/processing/jobs/{huge_id}/status").json()["waiting_reason"])

        wait_for(lambda: reason() == "no workers are connected yet", 10, what="the no-workers reason")
        # the small job was submitted after the huge one: the dispatcher may look at it a moment later
        wait_for(lambda: small.waiting_reason() == "no workers are connected yet", 10, what="its reason too")
        listed = api.get("/api/processing/jobs/list", params={"status": "queued"}).json()["jobs"]
        assert {j["job_id"]: j["waiting_reason"] for j in listed}[huge_id] == "no workers are connected yet"

        node.cluster_manager.add_worker(n_workers=1, threads_per_worker=1, memory_limit="400MB")
        # the worker that joined is enough for the small job, never for the huge one: it says so
        assert small.result(timeout=30) == 1
        assert small.waiting_reason() is None
        wait_for(lambda: reason().startswith("can never start on the workers connected now"), 10)
        assert "max_memory_gb=500" in reason() and "(0.40 GB)" in reason()
        assert api.get(f"/api/processing/jobs/{huge_id}/status").json()["status"] == "queued"
        done = api.post(
            "/api/processing/jobs/submit", json={"operation": "echo", "max_memory_gb": 0.1}
        ).json()["job_id"]
        wait_for(lambda: api.get(f"/api/processing/jobs/{done}/status").json()["status"] == "completed", 30)
        assert api.get(f"/api/processing/jobs/{done}/status").json()["waiting_reason"] is None
