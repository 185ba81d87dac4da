"""The LLM settings of pycluster.yaml / PYCLUSTER_* act: default precision, request limit, model size."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pycluster import HeadNode, LLMClusterManager, Settings
from pycluster.config import LLMSettings
from pycluster.errors import DeploymentBusyError, ModelDoesNotFitError
from tests.helpers import cli

from .tiny_model import CONTEXT


@pytest.fixture(scope="module")
def limited_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    env = {"PYCLUSTER_DEFAULT_PRECISION": "bf16", "PYCLUSTER_LLM_MAX_CONCURRENT_REQUESTS": "1"}
    settings = Settings.load(
        False,
        env=env,
        name="llm-settings",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port="off",
        discovery_port="off",
        state_dir=str(tmp_path_factory.mktemp("llm-settings-state")),
    )
    node = HeadNode(settings=settings)
    node.start(n_local_workers=1, threads_per_worker=2)
    try:
        yield node
    finally:
        node.shutdown()


@pytest.fixture(scope="module")
def http(limited_head: HeadNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited_head.dashboard_url or "", timeout=120) as client:
        yield client


def test_default_precision_is_used_by_deploy_and_rest(
    limited_head: HeadNode, http: httpx.Client, tiny_model: Path
) -> None:
    llm = LLMClusterManager(limited_head.cluster_manager)
    by_python = llm.deploy_model(str(tiny_model), gpu_per_replica=0, max_sequence_length=CONTEXT)
    assert llm.deployment(by_python).precision == "bf16"  # not the fp16 the document's example shows
    body = {"model_name": str(tiny_model), "gpu_per_replica": 0, "max_sequence_length": CONTEXT, "wait": True}
    answer = http.post("/api/llm/models/deploy", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["deployment"]["precision"] == "bf16"
    asked = http.post("/api/llm/models/deploy", json={**body, "precision": "fp32"})
    assert asked.json()["deployment"]["precision"] == "fp32"  # a request that says wins
    for deployment_id in (by_python, answer.json()["deployment_id"], asked.json()["deployment_id"]):
        llm.undeploy(deployment_id)


def test_max_concurrent_requests_answers_429_while_the_limit_is_in_flight(
    limited_head: HeadNode, http: httpx.Client, tiny_model: Path
) -> None:
    llm = LLMClusterManager(limited_head.cluster_manager)
    deployment_id = llm.deploy_model(str(tiny_model), gpu_per_replica=0, max_sequence_length=CONTEXT)
    try:
        stream = llm.stream_events(deployment_id, "the quick brown fox", max_tokens=40)
        next(stream)  # one request in flight: the limit (1)
        with pytest.raises(DeploymentBusyError, match="max_concurrent_requests"):
            llm.inference(deployment_id, "another", max_tokens=2)
        busy = http.post(f"/api/llm/models/{deployment_id}/inference", json={"prompt": "x", "max_tokens": 2})
        assert busy.status_code == 429 and "PYCLUSTER_LLM_MAX_CONCURRENT_REQUESTS" in busy.json()["detail"]
        stream.close()  # finished: the slot is free again
        done = http.post(f"/api/llm/models/{deployment_id}/inference", json={"prompt": "x", "max_tokens": 2})
        assert done.status_code == 200, done.text
        # two at once from threads: one is served, the other refused, never both queued silently
        answers: list[int] = []

        def ask() -> None:
            with httpx.Client(base_url=limited_head.dashboard_url or "", timeout=120) as own:
                answers.append(
                    own.post(
                        f"/api/llm/models/{deployment_id}/inference", json={"prompt": "x", "max_tokens": 30}
                    ).status_code
                )

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert 200 in answers and set(answers) <= {200, 429}
    finally:
        llm.undeploy(deployment_id)


def test_max_model_size_refuses_a_bigger_model(limited_head: HeadNode, tiny_model: Path) -> None:
    small = LLMClusterManager(limited_head.cluster_manager, settings=LLMSettings(max_model_size="1k"))
    with pytest.raises(ModelDoesNotFitError, match="PYCLUSTER_MAX_MODEL_SIZE"):
        small.deploy_model(str(tiny_model), gpu_per_replica=0, max_sequence_length=CONTEXT)
    assert small.list_deployments() == []  # nothing was started


def test_cli_deploy_without_precision_takes_the_heads_default(
    limited_head: HeadNode, tiny_model: Path
) -> None:
    url = ["--url", limited_head.dashboard_url or ""]
    deployed = cli(
        "llm", *url, "deploy", str(tiny_model), "--gpus-per-replica", "0", "--max-sequence-length", "128"
    )
    assert deployed.returncode == 0, deployed.stderr
    llm = LLMClusterManager(limited_head.cluster_manager)
    dep = deployed.stdout.strip()
    try:
        assert llm.deployment(dep).precision == "bf16"
    finally:
        llm.undeploy(dep)


def test_max_memory_per_gpu_as_a_size_over_rest(http: httpx.Client, tiny_model: Path) -> None:
    body = {"model_name": str(tiny_model), "gpu_per_replica": 0, "max_sequence_length": CONTEXT, "wait": True}
    bad = http.post("/api/llm/models/deploy", json={**body, "max_memory_per_gpu": "lots"})
    assert bad.status_code == 422 and "max_memory_per_gpu" in bad.text
    answer = http.post("/api/llm/models/deploy", json={**body, "max_memory_per_gpu": "12GB"})
    assert answer.status_code == 201, answer.text
    assert http.delete(f"/api/llm/models/{answer.json()['deployment_id']}").status_code == 200
