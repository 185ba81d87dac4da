"""Replica autoscaling: the decision (pure, with a clock), bad settings refused, and a real
deployment that scales to zero, starts a replica for the request that finds none, and grows
to max_replicas under load."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pycluster import HeadNode, LLMClusterManager
from pycluster.errors import ConfigError, DeploymentStateError
from pycluster.llm import AutoscalingConfig
from pycluster.llm.autoscaling import Autoscaler
from pycluster.llm.backoff import CAP_S, LoadBackoff
from tests.helpers import cli, wait_for

from .tiny_model import CONTEXT

PROMPT = "the quick brown fox"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _scaler(**options: float) -> tuple[Autoscaler, Clock]:
    clock = Clock()
    config = AutoscalingConfig(
        **{"min_replicas": 1, "max_replicas": 4, "upscale_delay_s": 5, "downscale_delay_s": 60, **options}
    )
    return Autoscaler(config, clock), clock


def test_growing_waits_for_the_upscale_delay_and_stops_at_max() -> None:
    scaler, clock = _scaler()
    assert scaler.decide(current=1, ongoing=20).replicas == 1  # a burst: not yet
    clock.now = 4.9
    assert scaler.decide(1, 20).replicas == 1
    clock.now = 5.0
    decision = scaler.decide(1, 20)
    assert decision.replicas == 4 and decision.wanted == 10
    assert decision.reason is not None and "max_replicas=4" in decision.reason


def test_a_lull_shorter_than_the_downscale_delay_changes_nothing() -> None:
    scaler, clock = _scaler()
    assert scaler.decide(4, 0).replicas == 4
    clock.now = 30
    assert scaler.decide(4, 8).replicas == 4  # load is back: the shrink timer starts over
    clock.now = 40
    assert scaler.decide(4, 0).replicas == 4
    clock.now = 99
    assert scaler.decide(4, 0).replicas == 4
    clock.now = 100
    assert scaler.decide(4, 0).replicas == 1  # min_replicas


def test_scaled_to_zero_a_request_gets_a_replica_at_once() -> None:
    scaler, _clock = _scaler(min_replicas=0, upscale_delay_s=30)
    assert scaler.decide(0, 0).replicas == 0
    assert scaler.decide(0, 1).replicas == 1  # no upscale delay while a request waits


def test_failed_loads_double_the_wait_up_to_the_cap_and_a_ready_replica_resets_it() -> None:
    backoff = LoadBackoff()
    waits = []
    for failure in range(12):
        backoff.failed("OSError: no weights", base=30.0, now=failure * 1000.0)
        waits.append(backoff.next_try - failure * 1000.0)
    assert waits[:4] == [30.0, 60.0, 120.0, 240.0] and waits[-1] == CAP_S
    assert backoff.waiting(now=11_000.0) == "replica failed to load: OSError: no weights; next try in 300 s"
    backoff.succeeded()
    assert backoff.waiting(now=11_000.0) is None
    backoff.failed("again", base=30.0, now=0.0)
    assert backoff.next_try == 30.0  # counted from the start again


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"target_ongoing_requests": 0}, "target_ongoing_requests"),
        ({"upscale_delay_s": -1}, "upscale_delay_s"),
    ],
)
def test_bad_settings_name_their_field(fields: dict[str, float], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        AutoscalingConfig.from_dict(fields)


@pytest.fixture(scope="module")
def api(llm_head: HeadNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llm_head.dashboard_url or "", timeout=120) as client:
        yield client


def test_min_over_max_is_a_422_and_nothing_is_deployed(
    api: httpx.Client, tiny_model: Path, llm_head: HeadNode
) -> None:
    body = {
        "model_name": str(tiny_model),
        "gpu_per_replica": 0,
        "max_sequence_length": CONTEXT,
        "autoscaling": {"min_replicas": 3, "max_replicas": 2},
    }
    before = api.get("/api/llm/models").json()["deployments"]
    answer = api.post("/api/llm/models/deploy", json=body)
    assert answer.status_code == 422 and "min_replicas" in answer.text, answer.text
    assert api.get("/api/llm/models").json()["deployments"] == before
    body["autoscaling"] = {"max_replicas": 0}
    answer = api.post("/api/llm/models/deploy", json=body)
    assert answer.status_code == 422 and "max_replicas" in answer.text, answer.text
    url = ["--url", llm_head.dashboard_url or ""]
    refused = cli("llm", *url, "deploy", str(tiny_model), "--min-replicas", "3", "--max-replicas", "2")
    assert refused.returncode == 1 and "min_replicas" in refused.stderr, refused.stderr
    assert api.get("/api/llm/models").json()["deployments"] == before


def _replicas(api: httpx.Client, dep: str) -> int:
    return int(api.get(f"/api/llm/models/{dep}").json()["replicas"])


@pytest.mark.slow
def test_scale_to_zero_then_grow_to_max_under_load(
    api: httpx.Client, llm: LLMClusterManager, tiny_model: Path
) -> None:
    scaling = {
        "min_replicas": 0,
        "max_replicas": 2,
        "target_ongoing_requests": 2,
        "upscale_delay_s": 0.5,
        "downscale_delay_s": 2,
    }
    body = {
        "model_name": str(tiny_model),
        "gpu_per_replica": 0,
        "max_sequence_length": CONTEXT,
        "autoscaling": scaling,
        "wait": True,
    }
    answer = api.post("/api/llm/models/deploy", json=body)
    assert answer.status_code == 201, answer.text
    dep = answer.json()["deployment_id"]
    try:
        # idle: down to zero, and still "ready" (the next request starts a replica)
        wait_for(lambda: _replicas(api, dep) == 0, 60, what="scale to zero")
        info = api.get(f"/api/llm/models/{dep}").json()
        assert info["status"] == "ready" and info["autoscaling"]["min_replicas"] == 0
        with pytest.raises(DeploymentStateError, match="autoscales"):
            llm.rescale(dep, 2)
        # the first request finds no replica, waits for one and is answered
        first = api.post(f"/api/llm/models/{dep}/inference", json={"prompt": PROMPT, "max_tokens": 4})
        assert first.status_code == 200 and first.json()["tokens_generated"] == 4, first.text
        # 8 clients asking again and again keep 8 requests in flight, which want 4 replicas: it
        # grows to max_replicas=2 and says why not more. (One burst of 8 can be over before the
        # upscale delay: a tiny model on bounded threads answers in well under a second.)
        stop = threading.Event()

        def client(i: int) -> int:
            answers = 0
            while not stop.is_set():
                answer = llm.inference(dep, f"{i} {PROMPT}", max_tokens=100 - CONTEXT // 4)
                assert answer["tokens_generated"] >= 1
                answers += 1
            return answers

        with ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(client, i) for i in range(8)]
            try:
                wait_for(lambda: _replicas(api, dep) == 2, 60, what="a second replica")
                wait_for(
                    lambda: (
                        "max_replicas=2"
                        in (api.get(f"/api/llm/models/{dep}").json()["autoscaling"]["reason"] or "")
                    ),
                    30,
                    what="the deployment to say it is at max_replicas",
                )
            finally:
                stop.set()
            assert all(c.result(120) >= 1 for c in clients)  # every client was answered, none failed
        wait_for(lambda: _replicas(api, dep) == 0, 60, what="scale to zero after the load")
    finally:
        api.delete(f"/api/llm/models/{dep}")


@pytest.mark.slow
def test_replicas_that_fail_to_load_are_retried_with_a_growing_wait(
    api: httpx.Client, llm: LLMClusterManager, tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "not-yet-a-model"  # a config but no weights nor tokenizer: every load fails
    folder.mkdir()
    shutil.copy(tiny_model / "config.json", folder)
    dep = llm.deploy_model(
        str(folder),
        gpu_per_replica=0,
        max_sequence_length=CONTEXT,
        wait=False,
        autoscaling={"min_replicas": 1, "max_replicas": 1, "upscale_delay_s": 0},
    )
    reasons: list[str] = []
    rises: list[int] = []  # each announced wait longer than the one before: a new failure

    def reason() -> str:
        text = str(api.get(f"/api/llm/models/{dep}").json()["autoscaling"]["reason"] or "")
        reasons.append(text)
        wait = re.search(r"next try in (\d+) s", text)
        if wait and (not rises or int(wait.group(1)) > last[0]):
            rises.append(int(wait.group(1)))
        last[0] = int(wait.group(1)) if wait else last[0]
        return text

    last = [0]
    # without a backoff: a new try every tick (0.25 s), and no such reason
    wait_for(lambda: reason() and len(rises) >= 2, 90, interval=0.05, what="two failed tries")
    assert rises == [1, 2], (rises, reasons[-1])  # 1 s after the first failure, 2 s after the second
    assert "replica failed to load: OSError" in reasons[-1], reasons[-1]  # says why, and when
    shutil.copytree(tiny_model, folder, dirs_exist_ok=True)  # the model is fixed: the next try loads
    wait_for(lambda: llm.deployment(dep).status == "ready", 60, what="the deployment to load")
    wait_for(lambda: reason() == "", 5, what="the backoff to reset")
    llm.undeploy(dep)
