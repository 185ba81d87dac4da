"""Model versions: name@version deployments side by side, traffic split by weight, rollback,
the split kept in SQLite; unknown versions are a 422 naming the field."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pycluster import HeadNode, LLMClusterManager
from pycluster.errors import ConfigError
from pycluster.llm.store import DeploymentStore
from pycluster.llm.versions import check_weights, choose, next_version

from .tiny_model import CONTEXT, build_tiny_model

PROMPT = "the quick brown fox"


def test_weights_name_the_bad_version() -> None:
    with pytest.raises(ConfigError, match=r"weights\.9"):
        check_weights("tiny", {"9": 1}, ["1", "2"])
    with pytest.raises(ConfigError, match=r"weights\.1"):
        check_weights("tiny", {"1": -1}, ["1"])
    with pytest.raises(ConfigError, match="above 0"):
        check_weights("tiny", {"1": 0}, ["1"])
    assert next_version([]) == "1" and next_version(["1", "2", "canary"]) == "3"


def test_requests_follow_the_weights() -> None:
    rng = random.Random(0)
    drawn = Counter(choose({"1": 90, "2": 10, "3": 0}, rng) for _ in range(2000))
    assert drawn["3"] == 0 and 0.85 < drawn["1"] / 2000 < 0.95


def test_the_split_is_kept_in_sqlite(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "state.db")
    store.save_traffic("tiny", {"1": 0.0, "2": 1.0}, {"1": 1.0})
    store.close()
    again = DeploymentStore(tmp_path / "state.db")
    assert again.traffic() == {"tiny": ({"1": 0.0, "2": 1.0}, {"1": 1.0})}
    again.close()


@pytest.fixture(scope="module")
def api(llm_head: HeadNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llm_head.dashboard_url or "", timeout=120) as client:
        yield client


def _served_by(llm: LLMClusterManager, ref: str, n: int = 8) -> set[str]:
    return {llm.generate(ref, PROMPT, max_tokens=2).deployment_id for _ in range(n)}


def test_two_versions_traffic_and_rollback(
    api: httpx.Client, llm: LLMClusterManager, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    newer = build_tiny_model(tmp_path_factory.mktemp("tiny-v2"), seed=1)
    body = {"gpu_per_replica": 0, "max_sequence_length": CONTEXT, "name": "tiny", "wait": True}
    first = api.post("/api/llm/models/deploy", json={**body, "model_name": str(tiny_model)})
    second = api.post("/api/llm/models/deploy", json={**body, "model_name": str(newer)})
    assert first.status_code == second.status_code == 201, second.text
    v1, v2 = first.json()["deployment_id"], second.json()["deployment_id"]
    try:
        assert second.json()["deployment"]["version"] == "2"
        listed = api.get("/api/llm/models/versions", params={"name": "tiny"}).json()["versions"]
        assert [(v["version"], v["weight"]) for v in listed] == [("1", 1.0), ("2", 0.0)]
        assert _served_by(llm, "tiny") == {v1}  # a new version gets no traffic until shifted
        shifted = api.put("/api/llm/models/traffic", json={"name": "tiny", "weights": {"2": 1}})
        assert shifted.status_code == 200, shifted.text
        assert _served_by(llm, "tiny") == {v2}
        assert _served_by(llm, "tiny@1", 2) == {v1}  # pinned
        assert api.post("/api/llm/models/rollback", json={"name": "tiny"}).status_code == 200
        assert _served_by(llm, "tiny") == {v1}
        # bad input: 422 naming the field, nothing changed or deployed
        bad = api.put("/api/llm/models/traffic", json={"name": "tiny", "weights": {"9": 1}})
        assert bad.status_code == 422 and "weights.9" in bad.text
        unknown = api.post("/api/llm/models/tiny@9/inference", json={"prompt": PROMPT, "max_tokens": 2})
        assert unknown.status_code == 422 and "version" in unknown.text
        again = api.post("/api/llm/models/deploy", json={**body, "model_name": str(newer), "version": "2"})
        assert again.status_code == 422 and "version" in again.text
        assert len(api.get("/api/llm/models").json()["deployments"]) == 2
    finally:
        api.delete(f"/api/llm/models/{v1}")
        api.delete(f"/api/llm/models/{v2}")
