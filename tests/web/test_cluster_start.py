"""PyCluster v2's ``POST /api/cluster/start`` {cluster_name, n_workers, worker_resources}."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pycluster import HeadNode
from tests.helpers import CliProcess, descendants, running_head

# the body exactly as the PyCluster v2 document's REST section shows it
DOCUMENT_BODY = {"cluster_name": "my-cluster", "n_workers": 4, "worker_resources": {"GPU": 1}}


@pytest.mark.slow
def test_standalone_api_starts_the_documents_cluster(tmp_path: Path) -> None:
    env = {
        "PYCLUSTER_STATE_DIR": str(tmp_path),
        "DASK_THREADS_PER_WORKER": "1",
        "PYCLUSTER_SCHEDULER_PORT": "0",
        "PYCLUSTER_DASK_DASHBOARD_PORT": "off",
        "PYCLUSTER_DISCOVERY_PORT": "off",
    }
    api = CliProcess("api", "--port", "0", env=env)
    try:
        base = api.wait_for_line(r"listening on (http://\S+)").group(1)
        with httpx.Client(base_url=base, timeout=90) as http:
            # bad bodies: 422 naming the field, and nothing starts
            for bad, field in [
                ({"n_workers": -1}, "n_workers"),
                ({"n_workers": "four"}, "n_workers"),
                ({"worker_resources": {"GPU": "one"}}, "worker_resources"),
                ({"cluster_name": ""}, "cluster_name"),
                ({"cluster_name": "a/b"}, "cluster_name"),
                ({"n_worker": 2}, "n_worker"),
            ]:
                answer = http.post("/api/cluster/start", json=bad)
                assert answer.status_code == 422, (bad, answer.text)
                assert field in answer.text
            assert http.get("/api/cluster/status").json()["status"] == "stopped"

            started = http.post("/api/cluster/start", json=DOCUMENT_BODY)
            assert started.status_code == 200, started.text
            body = started.json()
            assert body["status"] == "success" and body["cluster_name"] == "my-cluster"
            assert body["n_workers"] == 4 and body["worker_resources"] == {"GPU": 1}
            assert "://127.0.0.1:" in body["scheduler_address"]
            status = http.get("/api/cluster/status").json()
            assert status["cluster_name"] == "my-cluster" and status["n_workers"] == 4
            workers = http.get("/api/cluster/workers").json()["workers"]
            assert [w["resources"] for w in workers] == [{"GPU": 1.0}] * 4
            assert len([p for p in descendants(api.proc.pid) if "worker" in " ".join(p.cmdline())]) >= 4

            again = http.post("/api/cluster/start", json=DOCUMENT_BODY)
            assert again.status_code == 409 and "already running" in again.json()["detail"]
            assert http.post("/api/processing/cluster/stop").status_code == 200
            assert http.get("/api/cluster/status").json()["status"] == "stopped"
    finally:
        assert api.stop() == 0


def test_a_head_answers_409_it_already_runs(tmp_path: Path) -> None:
    with running_head("served-head", tmp_path, workers=0) as node:
        assert isinstance(node, HeadNode)
        with httpx.Client(base_url=node.dashboard_url or "", timeout=30) as http:
            answer = http.post("/api/cluster/start", json=DOCUMENT_BODY)
            assert answer.status_code == 409
            assert "served-head" in answer.json()["detail"] and "already running" in answer.json()["detail"]
            assert http.post("/api/cluster/start", json={"n_workers": "x"}).status_code == 422
