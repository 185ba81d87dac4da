"""Streaming, cancellation and autoscaling on real NVIDIA GPUs (issue 21, items 1-3).

Runs where a GPU, its driver and torch with CUDA are present (vLLM tests also need vllm);
elsewhere each test is skipped with a reason that says what it would have checked. The CPU
side of each feature is tested in tests/llm/ (test_cancel, test_vllm_stream, test_autoscaling).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import LLMClusterManager
from pycluster.llm.engines import GenerationRequest, GenerationResult
from pycluster.llm.engines.decode import Row
from pycluster.llm.spec import ModelSpec
from tests.gpu.test_real_gpu import STATUS, needs_gpu, needs_torch_cuda
from tests.helpers import wait_for
from tests.llm.tiny_model import CONTEXT
from tests.llm_gpu.test_gpu_serving import PROMPT, _head_with_gpu_workers, model_dir, needs_vllm

pytestmark = pytest.mark.gpu

__all__ = ["model_dir"]  # the shared fixture, imported for pytest


@pytest.fixture(scope="module")
def gpu_llm() -> Iterator[LLMClusterManager]:
    if not STATUS.available:
        pytest.skip(f"not run: streaming and cancellation on GPU workers (no NVIDIA GPU: {STATUS.reason})")
    head, node = _head_with_gpu_workers(1)
    try:
        yield LLMClusterManager(head.cluster_manager)
    finally:
        node.shutdown()
        head.shutdown()


def _deploy_vllm(llm: LLMClusterManager, model: Path) -> str:
    return llm.deploy_model(
        str(model), engine="vllm", precision="fp32", gpu_per_replica=1, max_sequence_length=CONTEXT
    )


@needs_gpu("vLLM's async engine streams tokens as made: several pieces, joined == the whole answer")
@needs_vllm("vLLM's async engine streams tokens as made: several pieces, joined == the whole answer")
def test_vllm_streams_pieces_as_they_are_made(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    dep = _deploy_vllm(gpu_llm, model_dir)
    try:
        whole = gpu_llm.inference(dep, PROMPT, max_tokens=40)
        events = list(gpu_llm.stream(dep, PROMPT, max_tokens=40))
        pieces = [e["text"] for e in events if "text" in e]
        assert len(pieces) > 1, "vLLM sent the whole text at the end instead of streaming it"
        assert events[-1]["done"] and set(events[-1]["result"]) >= {"text", "tokens_generated"}
        assert "".join(pieces) == events[-1]["result"]["text"] == whole["text"]
    finally:
        gpu_llm.undeploy(dep)


@needs_gpu("vLLM: a stream closed after its first piece is aborted inside vLLM (token counter stops)")
@needs_vllm("vLLM: a stream closed after its first piece is aborted inside vLLM (token counter stops)")
def test_vllm_closed_stream_is_aborted(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    dep = _deploy_vllm(gpu_llm, model_dir)
    try:
        before = gpu_llm.replica_stats(dep)[0]
        events = gpu_llm.stream_events(dep, PROMPT, max_tokens=CONTEXT - 16)
        next(events)
        events.close()
        wait_for(lambda: gpu_llm.replica_stats(dep)[0]["rows_ended_early"] > before["rows_ended_early"], 30)
        stopped = gpu_llm.replica_stats(dep)[0]["tokens_generated"]
        time.sleep(0.5)
        assert gpu_llm.replica_stats(dep)[0]["tokens_generated"] == stopped
        # the engine still serves others afterwards
        assert gpu_llm.inference(dep, PROMPT, max_tokens=4)["tokens_generated"] >= 1
    finally:
        gpu_llm.undeploy(dep)


@needs_gpu("transformers on cuda: a cancelled row stops, the batch's other rows keep their solo text")
def test_transformers_cancel_on_cuda(model_dir: Path) -> None:
    needs_torch_cuda("transformers cancellation on cuda")
    from pycluster.llm.engines.transformers_engine import TransformersEngine

    spec = ModelSpec(str(model_dir), precision="fp32", gpu_per_replica=1, max_sequence_length=CONTEXT)
    engine = TransformersEngine(spec, str(model_dir))
    assert engine.device.startswith("cuda")
    prompts = [PROMPT, "def add(a, b):", "the lazy dog"]

    def ask(prompt: str) -> GenerationRequest:
        return GenerationRequest(prompt, max_tokens=24)

    alone = {p: engine.generate([(ask(p), engine.prompt_ids(ask(p)))])[0] for p in prompts}
    results: dict[str, GenerationResult] = {}
    rows = [
        Row(ask(p), engine.prompt_ids(ask(p)), lambda _r, res, p=p: results.__setitem__(p, res))
        for p in prompts
    ]
    victim = rows[0]
    victim.on_text = lambda _t: setattr(victim, "cancelled", len(victim.tokens) >= 3)
    engine.serve(rows, lambda n: [])
    assert results[PROMPT].finish_reason == "cancelled" and len(victim.tokens) < 24
    assert all(results[p].text == alone[p].text for p in prompts[1:])
    engine.close()


@needs_gpu("autoscaling on one GPU: a second gpu_per_replica=1 replica is not attempted, and it says why")
def test_autoscaling_does_not_overbook_a_gpu(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    needs_torch_cuda("autoscaling GPU replicas")
    if STATUS.count != 1:
        pytest.skip(f"not run: needs exactly 1 GPU to fill (this machine has {STATUS.count})")
    scaling = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 1, "upscale_delay_s": 0}
    dep = gpu_llm.deploy_model(
        str(model_dir),
        engine="transformers",
        precision="fp32",
        gpu_per_replica=1,
        max_sequence_length=CONTEXT,
        autoscaling=scaling,
    )
    try:
        streams = [gpu_llm.stream_events(dep, PROMPT, max_tokens=CONTEXT - 16) for _ in range(4)]
        for s in streams:
            next(s)
        info = wait_for(lambda: (d := gpu_llm.deployment(dep)).autoscaling and d.autoscaling.reason and d, 30)
        assert "cannot place another replica" in info.autoscaling.reason
        assert info.replicas == 1
        for s in streams:
            s.close()
    finally:
        gpu_llm.undeploy(dep)
