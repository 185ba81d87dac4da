"""The operator's routes without a browser: the task stream and per-function durations, a
worker's detail and logs, restart and retire, pausing the queue, and the stream's deltas."""

from __future__ import annotations

import json
import operator
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from pycluster import HeadNode
from pycluster.web.delta import apply, diff
from tests.helpers import running_head, wait_for


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("dash-ops", tmp_path_factory.mktemp("dash-ops-state"), workers=2) as node:
        yield node


@pytest.fixture(scope="module")
def api(head: HeadNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=head.dashboard_url or "", timeout=60) as client:
        yield client


def workers(api: httpx.Client) -> list[str]:
    return sorted(w["address"] for w in api.get("/api/dashboard/snapshot").json()["workers"])


def test_task_stream_has_lanes_functions_and_only_new_records(head: HeadNode, api: httpx.Client) -> None:
    client = head.cluster_manager.client
    start = api.get("/api/dashboard/task-stream").json()["last_seq"]
    client.gather(client.map(time.sleep, [0.02] * 40, pure=False))  # nothing to import: fast
    bad = client.submit(operator.truediv, 1, 0, pure=False)
    wait_for(lambda: bad.status == "error", 20, what="the failing task")
    view = wait_for(
        lambda: (
            (v := api.get(f"/api/dashboard/task-stream?since={start}").json())
            and len(v["records"]) >= 41
            and v
        ),
        20,
        what="41 task records",
    )
    assert view["workers"] == workers(api)
    sleeps = [r for r in view["records"] if r["function"] == "sleep"]
    assert len(sleeps) == 40 and {r["worker"] for r in sleeps} <= set(view["workers"])
    assert all(r["ok"] and r["stop"] - r["start"] >= 0.015 for r in sleeps)
    assert [r["ok"] for r in view["records"] if r["function"] == "truediv"] == [False]
    stats = {f["function"]: f for f in view["functions"]}
    assert stats["sleep"]["count"] >= 40 and 0.015 <= stats["sleep"]["mean_s"] < 1
    assert stats["truediv"]["failed"] >= 1
    again = api.get(f"/api/dashboard/task-stream?since={view['last_seq']}").json()
    assert again["records"] == []
    assert api.get("/api/dashboard/task-stream?limit=0").status_code == 422


def test_worker_detail_and_logs(api: httpx.Client) -> None:
    address = workers(api)[0]
    detail = api.get("/api/dashboard/workers/detail", params={"address": address}).json()
    assert detail["address"] == address and detail["nthreads"] == 1
    assert detail["uptime_seconds"] is not None and detail["uptime_seconds"] >= 0
    memory = detail["memory"]
    assert memory["process"] > 10e6 and memory["limit"] > 0
    assert memory["managed"] + memory["unmanaged"] <= memory["process"] and memory["spilled"] >= 0
    logs = api.get("/api/dashboard/workers/logs", params={"address": address}).json()
    assert any("Start worker" in line["message"] for line in logs["lines"])
    missing = api.get("/api/dashboard/workers/detail", params={"address": "tcp://127.0.0.1:1"})
    assert missing.status_code == 404 and "no worker" in missing.json()["detail"]


def test_pause_holds_jobs_and_resume_starts_them(api: httpx.Client) -> None:
    assert api.post("/api/dashboard/queue/pause").json() == {"paused": True}
    job = api.post("/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": 7}})
    job_id = job.json()["job_id"]
    wait_for(lambda: api.get("/api/dashboard/snapshot").json()["jobs"]["paused"], 10)
    reason = wait_for(
        lambda: api.get(f"/api/processing/jobs/{job_id}/status").json().get("waiting_reason"),
        10,
        what="a reason",
    )
    assert "paused" in reason
    assert api.get(f"/api/processing/jobs/{job_id}/status").json()["status"] in {"queued", "pending"}
    assert api.post("/api/dashboard/queue/resume").json() == {"paused": False}
    wait_for(lambda: api.get(f"/api/processing/jobs/{job_id}/status").json()["status"] == "completed", 30)


def test_the_stream_sends_deltas_that_rebuild_the_snapshot(head: HeadNode) -> None:
    events: list[tuple[str, dict]] = []
    url = f"{head.dashboard_url}/api/dashboard/stream?interval=1&deltas=1"

    def read() -> None:
        with httpx.stream("GET", url, timeout=30) as answer:
            kind = ""
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if len(events) >= 4:
                        return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(30)
    assert [kind for kind, _ in events] == ["snapshot", "delta", "delta", "delta"]
    state = events[0][1]
    for _, patch in events[1:]:
        assert "version" not in patch  # unchanged: not sent again
        state = apply(state, patch)
    assert state["cluster"]["n_workers"] == 2 and len(state["workers"]) == 2
    assert len(json.dumps(events[-1][1])) < len(json.dumps(events[0][1])) / 2


def test_a_worker_the_scheduler_forgot_comes_back(head: HeadNode, api: httpx.Client) -> None:
    """A local worker removed without being told (its next heartbeat hears "missing": what a
    restart racing that heartbeat does) exits to be started again, and the head starts it."""
    first, _ = workers(api)
    head.run_on_loop(head.scheduler.remove_worker(first, stimulus_id="test-forget", close=False), timeout=30)
    wait_for(lambda: len(w := workers(api)) == 2 and first not in w, 60, what="a fresh worker")


def test_restart_and_retire_a_worker(head: HeadNode, api: httpx.Client) -> None:
    first, second = workers(api)
    answer = api.post("/api/dashboard/workers/restart", json={"address": first})
    assert answer.status_code == 200 and answer.json()["action"] == "restart"
    # a local worker has no Nanny: the scheduler removes it and the head's supervisor starts a new one
    wait_for(lambda: len(w := workers(api)) == 2 and first not in w, 60, what="a fresh worker")
    retired = api.post("/api/dashboard/workers/retire", json={"address": second}).json()
    assert retired["result"] == "retired"
    wait_for(lambda: second not in workers(api), 30, what="the retired worker to leave")
    assert api.post("/api/dashboard/workers/retire", json={"address": second}).status_code == 404
    assert api.post("/api/dashboard/workers/retire", json={"worker": second}).status_code == 422


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": [1, 2, 3], "b": None}, {"a": [1, 5], "c": {"x": None}}),
        ({"w": [{"address": "x", "m": 1}, {"address": "y", "m": 2}]}, {"w": [{"address": "y", "m": 3}]}),
        ({"w": [{"address": "x", "m": 1}]}, {"w": [{"address": "x", "m": 1}, {"address": "x", "m": 2}]}),
        ({"j": [{"job_id": "a"}, {"job_id": "b"}]}, {"j": [{"job_id": "c"}, {"job_id": "a", "p": 1}]}),
        ({"j": [{"job_id": "a"}]}, {"j": []}),
        ({"n": [[1], {"k": 1}]}, {"n": [[2], {"k": 1, "z": [1]}, 3]}),
    ],
)
def test_a_delta_applied_gives_the_new_snapshot(old: dict, new: dict) -> None:
    assert apply(old, diff(old, new)) == new
    assert apply(old, json.loads(json.dumps(diff(old, new)))) == new  # as the browser gets it
