"""Prefix reuse: rows start from the longest cached prompt prefix, and the text stays the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pycluster.llm.deployment import ReplicaHandle
from pycluster.llm.engines import GenerationRequest, GenerationResult
from pycluster.llm.engines.decode import Row
from pycluster.llm.engines.transformers_engine import TransformersEngine
from pycluster.llm.prefix_cache import PrefixCache
from pycluster.llm.routing import PREFIX_CHARS, PrefixRouter
from pycluster.llm.spec import DeploymentStatus, ModelSpec

SYSTEM = "the quick brown fox jumps over the lazy dog. a cluster runs tasks on workers. "
PROMPTS = [SYSTEM + f"def add(a, b): {i} " * (1 + i % 3) for i in range(6)]


def _engine(model: Path, cache_mb: float) -> TransformersEngine:
    spec = ModelSpec(
        str(model),
        precision="fp32",
        gpu_per_replica=0,
        batch_size=3,
        max_sequence_length=128,
        prefix_cache_mb=cache_mb,
    )
    return TransformersEngine(spec, str(model))


@pytest.fixture(scope="module")
def engines(tiny_model: Path) -> tuple[TransformersEngine, TransformersEngine]:
    return _engine(tiny_model, 0), _engine(tiny_model, 8)


def _serve(engine: TransformersEngine, prompts: list[str], max_tokens: int = 12) -> list[str]:
    """All prompts through ``serve`` with batch_size 3: three start, the rest join as rows leave."""
    done: dict[str, GenerationResult] = {}

    def on_result(row: Row, result: GenerationResult) -> None:
        done[row.request.prompt or ""] = result

    # different lengths, so rows leave at different steps and others join the running batch
    requests = [GenerationRequest(p, max_tokens=max_tokens - len(p) % 5) for p in prompts]
    engine.serve([Row(r, engine.prompt_ids(r), on_result) for r in requests], lambda n: [])
    return [done[p].text for p in prompts]


def test_greedy_text_is_the_same_with_the_prefix_cache(
    engines: tuple[TransformersEngine, TransformersEngine],
) -> None:
    plain, cached = engines
    expected = _serve(plain, PROMPTS)
    assert _serve(cached, PROMPTS) == expected  # cold: later rows reuse the first rows' prompts
    hits = cached.counters()["prefix_hits"]
    assert hits >= 3
    assert _serve(cached, PROMPTS[::-1]) == expected[::-1]  # warm: every row starts from the cache
    stats = cached.counters()
    assert stats["prefix_hits"] >= hits + len(PROMPTS)
    assert stats["prefix_reused_tokens"] > 0
    assert plain.counters()["prefix_hits"] == 0


def test_a_prompt_that_only_shares_a_few_tokens_is_computed_whole(
    engines: tuple[TransformersEngine, TransformersEngine],
) -> None:
    plain, cached = engines
    other = ["def add(a, b): return a + b. models answer prompts " + str(i) for i in range(2)]
    misses = cached.counters()["prefix_misses"]
    assert _serve(cached, other) == _serve(plain, other)
    assert cached.counters()["prefix_misses"] > misses


def test_the_cache_stays_within_its_bytes_and_drops_the_least_recently_used() -> None:
    import torch

    def layers(tokens: int) -> list[tuple[Any, Any]]:
        return [(torch.zeros(2, tokens, 4), torch.zeros(2, tokens, 4))]  # 2 * 2*tokens*4 floats

    per_entry = 2 * 2 * 20 * 4 * 4  # bytes of one 20-token entry
    cache = PrefixCache(max_bytes=3 * per_entry, min_tokens=4)
    prompts = [[i, *list(range(100, 119))] for i in range(5)]
    for ids in prompts[:3]:
        cache.add(ids, layers(20))
    assert cache.longest([*prompts[0], 7]) is not None  # prompt 0 is now the most recent
    cache.add(prompts[3], layers(20))
    assert cache.bytes <= 3 * per_entry and len(cache) == 3
    assert cache.longest([*prompts[1], 7]) is None  # the least recently used went first
    hit = cache.longest([*prompts[0], 7])
    assert hit is not None and hit.length == 20
    assert hit.layers()[0][0].shape == (2, 20, 4)
    partial = cache.longest([*prompts[0][:10], 999, 5, 5])
    assert partial is not None and partial.length == 10
    assert cache.longest(prompts[0], adapter="other") is None  # an adapter's entries are its own


def test_the_router_prefers_the_replica_that_served_the_prefix() -> None:
    router = PrefixRouter(slack=2)
    replicas = [ReplicaHandle(i, status=DeploymentStatus.READY) for i in range(3)]
    long = GenerationRequest(prompt="x" * PREFIX_CHARS + " first question")
    key = router.key(long, "dep")
    assert key is not None
    replicas[0].inflight, replicas[2].inflight = 1, 1
    assert router.pick(replicas, key).index == 1  # first seen: the least busy
    replicas[1].inflight = 2
    same_head = GenerationRequest(prompt="x" * PREFIX_CHARS + " another question")
    assert router.key(same_head, "dep") == key
    assert router.pick(replicas, key).index == 1  # busier, but within the slack: its cache wins
    replicas[1].inflight = 4
    assert router.pick(replicas, key).index in (0, 2)  # too busy: load wins over reuse
    assert router.key(GenerationRequest(prompt="short"), "dep") is None
