"""LLMResourceManager: memory estimates, placement plans and refusals (pure logic)."""

from __future__ import annotations

import pytest

from pycluster import ConfigError, LLMResourceManager, ModelDoesNotFitError
from pycluster.llm.resources import parse_model_size


def _gpu(host: str, gpu_id: int, free_gb: float) -> dict[str, object]:
    return {"host": host, "id": gpu_id, "memory_free": free_gb * 1e9, "workers": [f"{host}-w{gpu_id}"]}


def test_sizes_parse() -> None:
    assert parse_model_size("7b") == 7e9
    assert parse_model_size("117M") == 117e6
    assert parse_model_size("1.3b") == 1.3e9
    with pytest.raises(ConfigError):
        parse_model_size("seven")


def test_estimate_is_weights_plus_kv_plus_overhead() -> None:
    est = LLMResourceManager().estimate_memory("7b", "fp16", batch_size=1, max_sequence_length=2048)
    assert est["weights_gb"] == pytest.approx(14.0)
    # 2 (K and V) x 32 layers x 4096 hidden x 2 bytes x 2048 tokens
    assert est["kv_cache_gb"] == pytest.approx(2 * 32 * 4096 * 2 * 2048 / 1e9)
    assert est["total_gb"] == pytest.approx(14.0 + 1.074 + 1.0, abs=0.01)
    int8 = LLMResourceManager().estimate_memory("7b", "int8", batch_size=1, max_sequence_length=2048)
    assert int8["weights_gb"] == pytest.approx(7.0)
    bigger_batch = LLMResourceManager().estimate_memory("7b", "fp16", batch_size=8, max_sequence_length=2048)
    assert bigger_batch["kv_cache_gb"] == pytest.approx(8 * est["kv_cache_gb"])


def test_plan_places_replicas_on_the_freest_gpus_of_one_host() -> None:
    gpus = [_gpu("a", 0, 24), _gpu("a", 1, 24), _gpu("b", 0, 80)]
    plan = LLMResourceManager().plan("7b", gpus, gpu_per_replica=1, replicas=2, batch_size=1)
    assert plan["fits"] and plan["reason"] is None
    assert [r["host"] for r in plan["replicas"]] == ["a", "a"] or plan["replicas"][0]["host"] == "b"
    split = LLMResourceManager().plan("7b", gpus, gpu_per_replica=2, replicas=1, batch_size=1)
    assert split["replicas"] == [{"host": "a", "gpus": [0, 1], "workers": ["a-w0", "a-w1"]}]


def test_refusal_says_what_would_fit() -> None:
    with pytest.raises(ModelDoesNotFitError) as info:
        LLMResourceManager().check("7b", [_gpu("a", 0, 8)], precision="fp16", batch_size=1)
    message = str(info.value)
    assert "7b at fp16 needs ~16.1 GB per replica" in message
    assert "the largest free GPU has 8.0 GB" in message
    assert "gpu_per_replica=2" in message and "precision='int8'" in message
    none = LLMResourceManager().plan("7b", [], batch_size=1)
    assert "gpu_per_replica=0" in none["reason"]


def test_shape_comes_from_a_local_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.json").write_text(
        '{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "vocab_size": 300}'
    )
    est = LLMResourceManager(overhead_bytes=0).estimate_memory(None, "fp32", 1, 128, model_path=tmp_path)
    assert est["kv_cache_gb"] == pytest.approx(2 * 2 * 64 * 4 * 128 / 1e9)
    assert 0 < est["weights_gb"] < 0.01
