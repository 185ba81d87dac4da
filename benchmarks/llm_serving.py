"""LLM serving on the tiny local model (CPU), one run; one JSON line per figure.

1. tokens/s for 32 concurrent requests through the cluster (one replica, dynamic batching)
   vs the same requests one at a time through plain transformers ``generate`` in one process.
2. the latency of one request through the cluster vs direct ``generate`` (p50/p99 of 20 each).

    python benchmarks/llm_serving.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.llm.tiny_model import build_tiny_model

from pycluster import HeadNode, LLMClusterManager

N, MAX_TOKENS = 32, 32


def _pct(values: list[float], p: int) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 2)


def _direct(model_dir: Path, prompts: list[str]) -> tuple[float, int, list[float]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokens, latencies, started = 0, [], time.perf_counter()
    for prompt in prompts:
        t = time.perf_counter()
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(
                ids, max_new_tokens=MAX_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id
            )
        tokens += out.shape[1] - ids.shape[1]
        latencies.append((time.perf_counter() - t) * 1000)
    return time.perf_counter() - started, tokens, latencies


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())  # Dask's Nanny sets OMP_NUM_THREADS=1 for its workers


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "model")
        prompts = [f"the quick brown fox {i}" for i in range(N)]
        direct_s, direct_tokens, direct_lat = _direct(model_dir, prompts)
        with HeadNode(
            "bench-llm",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            discovery_port=False,  # UDP 8788 may be taken by another head on this machine
            state_dir=str(Path(tmp) / "state"),
        ) as head:
            head.start(n_local_workers=1, threads_per_worker=1)
            llm = LLMClusterManager(head.cluster_manager)
            dep = llm.deploy_model(str(model_dir), gpu_per_replica=0, batch_size=N, max_sequence_length=128)
            llm.inference(dep, "warm up", max_tokens=4)
            started = time.perf_counter()
            with ThreadPoolExecutor(N) as pool:
                results = list(pool.map(lambda p: llm.inference(dep, p, max_tokens=MAX_TOKENS), prompts))
            cluster_s = time.perf_counter() - started
            cluster_tokens = sum(r["tokens_generated"] for r in results)
            single = [llm.inference(dep, p, max_tokens=MAX_TOKENS)["latency_ms"] for p in prompts[:20]]
            worker_threads = sorted(set(head.cluster_manager.client.run(_torch_threads).values()))
        emit(
            "tokens_per_s_32_concurrent_cluster_batched",
            cluster_tokens / cluster_s,
            "tokens/s",
            latency_p50_ms=_pct([r["latency_ms"] for r in results], 50),
            latency_p99_ms=_pct([r["latency_ms"] for r in results], 99),
        )
        emit(
            "tokens_per_s_32_sequential_direct_generate",
            direct_tokens / direct_s,
            "tokens/s",
            latency_p50_ms=_pct(direct_lat, 50),
            latency_p99_ms=_pct(direct_lat, 99),
        )
        emit(
            "batched_speedup",
            (cluster_tokens / cluster_s) / (direct_tokens / direct_s),
            "x",
            target=">= 3",
            torch_threads_direct=1,
            torch_threads_cluster_worker=worker_threads,
        )
        emit(
            "single_request_latency_ratio",
            _pct(single, 50) / _pct(direct_lat[:20], 50),
            "x",
            target="<= 1.2",
            cluster_p50_ms=_pct(single, 50),
            cluster_p99_ms=_pct(single, 99),
            direct_p50_ms=_pct(direct_lat[:20], 50),
            direct_p99_ms=_pct(direct_lat[:20], 99),
        )


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(
        json.dumps(
            {"benchmark": "llm_serving", "name": name, "value": round(value, 3), "unit": unit, **extra}
        )
    )


if __name__ == "__main__":
    main()
