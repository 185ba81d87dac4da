"""The typed LLM results answer the documented JSON, and the CLI's reading of it gives them back."""

from __future__ import annotations

from pycluster.llm.deployment import Deployment, ReplicaHandle
from pycluster.llm.results import DeploymentInfo, Generation, InferenceResult, ReplicaCounters, StreamEnd
from pycluster.llm.spec import DeploymentStatus, ModelSpec
from pycluster.web import models


def test_a_deployment_round_trips_through_its_documented_dict() -> None:
    dep = Deployment("dep-1", ModelSpec("gpt2", engine="transformers", notes=["cpu only"]))
    dep.replicas = [ReplicaHandle(0, "tcp://10.0.0.5:4000", status=DeploymentStatus.READY), ReplicaHandle(1)]
    dep.refresh_status()
    dep.metrics.record(12, 40.0)
    info = dep.info()
    assert (
        info.replicas_ready == 1 and info.metrics.total_tokens == 12 and info.metrics.latency_ms.p50 == 40.0
    )
    as_dict = info.to_dict()
    assert as_dict == dep.summary() and "metrics" not in as_dict and as_dict["latency_ms"]["p50"] == 40.0
    assert models.DeploymentModel.model_validate(as_dict).model_dump() == as_dict
    assert DeploymentInfo.from_dict(as_dict) == info


def test_generations_and_counters_keep_the_replica_keys() -> None:
    answer = {"text": "x", "tokens_generated": 3, "prompt_tokens": 4, "finish_reason": "length"}
    generation = Generation.from_replica({**answer, "batch_size": 2, "engine_ms": 1.5}, 12.345)
    assert generation.latency_ms == 12.35
    result = InferenceResult(**vars(generation), deployment_id="d", model_name="m", replica=0)
    assert models.InferenceResult.model_validate(result.to_dict()).model_dump() == result.to_dict()
    assert StreamEnd(generation).to_dict() == {"done": True, "result": generation.to_dict()}
    stats = {"forward_batches": 2, "batched_requests": 5, "largest_batch": 4, "queued": 0}
    stats |= {"load_seconds": 0.5, "device": "cpu", "engine": "transformers", "context_length": 128}
    counters = ReplicaCounters.from_replica(1, {**stats, "kv_blocks": 7})
    assert counters.extra == {"kv_blocks": 7}
    assert counters.to_dict() == {"index": 1, **stats, "kv_blocks": 7}
