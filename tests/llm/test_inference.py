"""A tiny local model deployed by path on real CPU workers, through the real code path."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pycluster import DeploymentNotFoundError, InferenceRequestError, LLMClusterManager
from tests.helpers import wait_for

PROMPT = "the quick brown fox"


def _direct(model_dir: Path, prompt: str, max_tokens: int) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def test_deployment_is_ready_on_cpu_with_a_note(llm: LLMClusterManager, deployment: str) -> None:
    info = llm.get_deployment(deployment)
    assert info["status"] == "ready" and info["replicas_ready"] == 1
    assert info["precision"] == "fp32" and any("fp32" in n for n in info["notes"])
    assert [d["deployment_id"] for d in llm.list_deployments()] == [deployment]


def test_greedy_equals_direct_generate(llm: LLMClusterManager, deployment: str, tiny_model: Path) -> None:
    result = llm.inference(deployment, PROMPT, max_tokens=12)
    assert result["text"] == _direct(tiny_model, PROMPT, 12)
    assert result["tokens_generated"] <= 12 and result["latency_ms"] > 0
    assert result["finish_reason"] in {"length", "stop"}


def test_max_tokens_and_stop_sequences(llm: LLMClusterManager, deployment: str) -> None:
    full = llm.inference(deployment, PROMPT, max_tokens=20)
    short = llm.inference(deployment, PROMPT, max_tokens=3)
    assert short["tokens_generated"] == 3 and short["finish_reason"] == "length"
    assert full["text"].startswith(short["text"])
    stop = full["text"][4:6]
    cut = llm.inference(deployment, PROMPT, max_tokens=20, stop_sequences=[stop])
    assert cut["text"] == full["text"][: full["text"].index(stop)]
    assert cut["finish_reason"] == "stop"


def test_concurrent_requests_share_forward_batches(llm: LLMClusterManager, deployment: str) -> None:
    before = llm.replica_stats(deployment)[0]
    prompts = [f"{PROMPT} {i}" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: llm.inference(deployment, p, max_tokens=8), prompts))
    after = llm.replica_stats(deployment)[0]
    batches = after["forward_batches"] - before["forward_batches"]
    assert all(r["tokens_generated"] >= 1 for r in results)
    assert batches < len(prompts), f"8 concurrent requests took {batches} forward batches"
    assert max(r["batch_size"] for r in results) > 1


def test_batched_text_equals_text_served_alone(llm: LLMClusterManager, deployment: str) -> None:
    # rows of different lengths join and leave one running batch; each keeps its own text
    asks = [(f"{PROMPT} {i}" * (1 + i % 3), 3 + 2 * i) for i in range(8)]
    alone = [llm.inference(deployment, p, max_tokens=n)["text"] for p, n in asks]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda a: llm.inference(deployment, a[0], max_tokens=a[1]), asks))
    assert [r["text"] for r in together] == alone
    assert [r["tokens_generated"] for r in together] == [n for _, n in asks]


def test_streaming_yields_the_same_text(llm: LLMClusterManager, deployment: str) -> None:
    chunks = list(llm.stream(deployment, PROMPT, max_tokens=10))
    assert chunks[-1]["done"]
    text = "".join(c.get("text", "") for c in chunks[:-1])
    assert text == chunks[-1]["result"]["text"] == llm.inference(deployment, PROMPT, max_tokens=10)["text"]


def test_bad_requests(llm: LLMClusterManager, deployment: str) -> None:
    with pytest.raises(DeploymentNotFoundError):
        llm.inference("nope", PROMPT)
    with pytest.raises(InferenceRequestError):
        llm.inference(deployment, PROMPT, max_tokens=0)
    with pytest.raises(InferenceRequestError, match="context"):
        llm.inference(deployment, "fox " * 200, max_tokens=5)


def test_killed_worker_replica_is_redeployed(llm: LLMClusterManager, deployment: str) -> None:
    expected = llm.inference(deployment, PROMPT, max_tokens=6)["text"]
    worker = llm.get_deployment(deployment)["replica_details"][0]["worker"]
    client = llm.cluster_manager.client
    pid = client.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: worker not in client.scheduler_info()["workers"], 30, what="the worker to be gone")
    wait_for(lambda: len(client.scheduler_info()["workers"]) >= 1, 60, what="a live worker")
    assert llm.inference(deployment, PROMPT, max_tokens=6)["text"] == expected
    info = llm.get_deployment(deployment)
    assert info["status"] == "ready" and info["replica_details"][0]["restarts"] == 1
