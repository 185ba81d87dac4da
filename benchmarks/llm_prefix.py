"""Prefix reuse on the tiny local model (CPU), one run; one JSON line per figure.

32 requests share a 512-token system prompt and each adds a short question of its own. They
go to one transformers engine (batch_size 8, continuous batching: 8 start, the rest join as
rows finish), once with the prefix cache off and once on; tokens/s counts prompt and new
tokens, as a server's throughput does. ``warm`` is a second burst with the cache already
holding the system prompt. Three rounds; the best time of each kind counts.

    python benchmarks/llm_prefix.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.llm.tiny_model import build_tiny_model

from pycluster.llm.engines import GenerationRequest, GenerationResult
from pycluster.llm.engines.decode import Row
from pycluster.llm.engines.transformers_engine import TransformersEngine
from pycluster.llm.spec import ModelSpec

N, SYSTEM_TOKENS, MAX_TOKENS, BATCH, ROUNDS = 32, 512, 16, 8, 3


def _engine(model: Path, cache_mb: float) -> TransformersEngine:
    spec = ModelSpec(
        str(model),
        precision="fp32",
        gpu_per_replica=0,
        batch_size=BATCH,
        max_sequence_length=1024,
        prefix_cache_mb=cache_mb,
    )
    return TransformersEngine(spec, str(model))


def _burst(engine: TransformersEngine, system: list[int]) -> tuple[float, int, list[str]]:
    results: dict[int, GenerationResult] = {}
    rows = []
    for i in range(N):
        question = engine.tokenizer(f" question {i}: def add(a, b):")["input_ids"]
        request = GenerationRequest(prompt="", max_tokens=MAX_TOKENS)
        rows.append(Row(request, system + list(question), lambda r, res, i=i: results.__setitem__(i, res)))
    started = time.perf_counter()
    engine.serve(rows, lambda n: [])
    elapsed = time.perf_counter() - started
    tokens = sum(len(r.ids) for r in rows) + sum(r.tokens_generated for r in results.values())
    return elapsed, tokens, [results[i].text for i in range(N)]


def main() -> None:
    import torch

    torch.set_num_threads(1)  # as a Dask worker runs it
    model = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny", context=1024)
    off, on = _engine(model, 0), _engine(model, 256)
    text = "the quick brown fox jumps over the lazy dog. a cluster runs tasks on workers. " * 40
    system = list(off.tokenizer(text)["input_ids"])[:SYSTEM_TOKENS]
    _burst(off, system[:64])  # warm both engines' kernels on a short prompt
    _burst(on, system[:64])
    on._loop.prefix_cache.clear()
    # three rounds, each off / on-cold / on-warm back to back; the best of each (others share this
    # machine: the least disturbed run is the one closest to what the code does)
    t_off = t_cold = t_warm = float("inf")
    for _ in range(ROUNDS):
        on._loop.prefix_cache.clear()
        elapsed, tokens, texts_off = _burst(off, system)
        t_off = min(t_off, elapsed)
        elapsed, _, texts_cold = _burst(on, system)
        t_cold = min(t_cold, elapsed)
        elapsed, _, texts_warm = _burst(on, system)
        t_warm = min(t_warm, elapsed)
    same = texts_off == texts_cold == texts_warm
    figures = {
        "requests": N,
        "system_prompt_tokens": len(system),
        "tokens_per_s_without_reuse": round(tokens / t_off),
        "tokens_per_s_with_reuse_cold": round(tokens / t_cold),
        "tokens_per_s_with_reuse_warm": round(tokens / t_warm),
        "speedup_cold": round(t_off / t_cold, 2),
        "speedup_warm": round(t_off / t_warm, 2),
        "same_greedy_text": same,
        **on._loop.prefix_cache.stats(),
    }
    for name, value in figures.items():
        print(json.dumps({"figure": name, "value": value}))


if __name__ == "__main__":
    main()
