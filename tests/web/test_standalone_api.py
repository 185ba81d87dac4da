"""`pycluster api`: the REST API alone, the cluster started and stopped over REST; tokens."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from pycluster import Settings
from pycluster.web.auth import ensure_token, is_loopback
from tests.helpers import CliProcess, all_gone, descendants, wait_for


def test_standalone_api_starts_and_stops_the_cluster_over_rest(tmp_path: Path) -> None:
    env = {
        "PYCLUSTER_STATE_DIR": str(tmp_path),
        "DASK_N_WORKERS": "1",
        "DASK_THREADS_PER_WORKER": "1",
        "PYCLUSTER_SCHEDULER_PORT": "0",
        "PYCLUSTER_DASK_DASHBOARD_PORT": "off",
        "PYCLUSTER_DATA_ROOTS": str(tmp_path),
    }
    api = CliProcess("api", "--port", "0", env=env)
    try:
        base = api.wait_for_line(r"listening on (http://\S+)").group(1)
        with httpx.Client(base_url=base, timeout=60) as http:
            assert http.get("/api/processing/cluster/status").json()["status"] == "stopped"
            # the queue, the registry and the GPU view answer before the cluster runs
            accepted = http.post(
                "/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": 7}}
            )
            assert accepted.status_code == 200 and accepted.json()["status"] in {"pending", "queued"}
            job_id = accepted.json()["job_id"]
            doomed = http.post("/api/processing/jobs/submit", json={"operation": "echo"}).json()["job_id"]
            # the dispatcher queues them at once, and starts none: no workers yet
            wait_for(
                lambda: (
                    {j["status"] for j in http.get("/api/processing/jobs/list").json()["jobs"]} == {"queued"}
                ),
                10,
                what="the jobs to be queued",
            )
            assert http.get("/api/processing/jobs/list").json()["total"] == 2
            cancelled = http.post(f"/api/processing/jobs/{doomed}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            assert http.get("/api/processing/queue/status").status_code == 200
            data = tmp_path / "data.csv"
            data.write_text("a,b\n1,2\n3,4\n")
            registered = http.post("/api/processing/data/register", json={"path": str(data)})
            assert registered.status_code == 200, registered.text
            dataset_id = registered.json()["dataset_id"]
            assert http.get(f"/api/processing/data/{dataset_id}").json()["dataset_id"] == dataset_id
            assert http.get("/api/processing/data/list").json()["total"] == 1
            gpus = http.get("/api/llm/gpu/status")
            assert gpus.status_code == 200
            assert gpus.json()["summary"]["gpus"] == [] and "no workers" in gpus.json()["summary"]["reason"]
            assert http.get("/api/llm/models").status_code == 503  # LLM serving needs workers
            assert http.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "queued"
            started = http.post("/api/processing/cluster/start").json()
            assert started["message"] == "Cluster started successfully"
            assert started["cluster_info"]["n_workers"] == 1
            dashboard = started["cluster_info"]["dashboard_url"]
            assert dashboard == base and http.get(dashboard).status_code == 200
            done = wait_for(
                lambda: (
                    (s := http.get(f"/api/processing/jobs/{job_id}/status").json())["status"] == "completed"
                    and s
                ),
                30,
            )
            assert done["result"] == {"echo": 7}
            assert http.get("/api/llm/models").json() == {"deployments": []}  # LLM serving is there too
            assert http.get("/v1/models").json() == {"object": "list", "data": []}
            assert (
                http.post("/api/processing/cluster/start").json()["message"] == "Cluster is already running"
            )
            workers = [p for p in descendants(api.proc.pid) if "worker" in " ".join(p.cmdline())]
            assert workers
            assert (
                http.post("/api/processing/cluster/stop").json()["message"] == "Cluster stopped successfully"
            )
            wait_for(lambda: all_gone(workers), 30, what="the cluster's workers to stop")
            assert http.post("/api/processing/cluster/stop").status_code == 409
            # stopped again: the store still answers, and the finished job is still there
            assert http.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "completed"
            assert http.get("/api/processing/data/list").json()["total"] == 1
            assert http.post("/api/processing/jobs/submit", json={"operation": "echo"}).status_code == 200
    finally:
        assert api.stop() == 0


def test_network_facing_head_gets_a_generated_token_stored_user_only(tmp_path: Path) -> None:
    said: list[str] = []
    settings = Settings.load(False, env={}, host="0.0.0.0")
    token = ensure_token(settings, tmp_path, said.append)
    assert token and len(token) >= 24 and settings.cluster.api_token == token
    stored = tmp_path / "api_token"
    assert stored.read_text() == token
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert token not in said[0] and str(stored) in said[0]  # not a terminal: only where it is
    # the next start reuses it and does not print it again
    again = Settings.load(False, env={}, host="0.0.0.0")
    assert ensure_token(again, tmp_path, said.append) == token
    assert token not in said[1]


def test_loopback_heads_get_a_token_too_and_a_given_token_wins(tmp_path: Path) -> None:
    said: list[str] = []
    local = ensure_token(Settings.load(False, env={}), tmp_path / "local", said.append)
    assert local and (tmp_path / "local" / "api_token").read_text() == local and said == []
    given = Settings.load(False, env={}, host="0.0.0.0", api_token="mine")
    assert ensure_token(given, tmp_path) == "mine"
    assert not (tmp_path / "api_token").exists()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
