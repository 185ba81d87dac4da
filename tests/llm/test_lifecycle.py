"""Stop, start and restart a deployment (PyCluster v2's model "Control Actions") over REST.

A stopped deployment frees its workers, answers requests with 409 and stays stopped across a
head restart; start loads it again with the same settings.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import running_head

from .tiny_model import CONTEXT

pytestmark = pytest.mark.slow


def test_a_stopped_deployment_answers_409_stays_stopped_and_starts_again(
    tmp_path: Path, tiny_model: Path
) -> None:
    body = {"model_name": str(tiny_model), "gpu_per_replica": 0, "max_sequence_length": CONTEXT, "wait": True}
    ask = {"prompt": "a cluster runs", "max_tokens": 4}
    with (
        running_head("llm-lifecycle", tmp_path, workers=1) as head,
        httpx.Client(base_url=head.dashboard_url or "", timeout=120) as api,
    ):
        dep = api.post("/api/llm/models/deploy", json=body).json()["deployment_id"]
        stopped = api.post(f"/api/llm/models/{dep}/stop").json()
        assert stopped["status"] == "stopped" and stopped["replicas"] == 0
        refused = api.post(f"/api/llm/models/{dep}/inference", json=ask)
        assert refused.status_code == 409 and "start it first" in refused.json()["detail"]
        # scaling a stopped deployment only changes how many replicas the next start loads
        assert api.post(f"/api/llm/models/{dep}/scale", json={"replicas": 1}).json()["status"] == "stopped"
        assert api.post("/api/llm/models/nope/stop").status_code == 404

    with (
        running_head("llm-lifecycle", tmp_path, workers=1) as head,
        httpx.Client(base_url=head.dashboard_url or "", timeout=120) as api,
    ):
        # stopped on purpose: a restarted head lists it, loads nothing
        assert api.get(f"/api/llm/models/{dep}").json()["status"] == "stopped"
        assert api.post(f"/api/llm/models/{dep}/restart").status_code == 200  # a stopped one just starts
        assert api.post(f"/api/llm/models/{dep}/inference", json=ask).status_code == 200  # waits for it
        assert api.post(f"/api/llm/models/{dep}/start").status_code == 409  # it runs already
        # restarting a running one: loading (never stopped) at once, its request counts kept
        restarted = api.post(f"/api/llm/models/{dep}/restart").json()
        assert restarted["status"] == "loading" and restarted["total_requests"] == 1
        assert api.delete(f"/api/llm/models/{dep}").status_code == 200
