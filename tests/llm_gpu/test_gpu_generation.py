"""Prefix reuse, LoRA adapters and structured output on a real GPU, both engines (issue 21).

Runs where torch has CUDA (the device machine); elsewhere each test is skipped saying what
it would have checked. The engines run in this process on the tiny local model: on a GPU
the transformers engine's cached prefixes, adapter weights and logit masks live in GPU
memory, and vLLM does all three its own way (automatic prefix caching, LoRARequest,
structured outputs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pycluster.errors import InferenceRequestError
from pycluster.llm.engines import GenerationRequest
from pycluster.llm.spec import ModelSpec
from tests.gpu.test_real_gpu import needs_torch_cuda
from tests.llm.tiny_model import build_tiny_adapter, build_tiny_model

pytestmark = pytest.mark.gpu

HAS_VLLM = importlib.util.find_spec("vllm") is not None
SYSTEM = "the quick brown fox jumps over the lazy dog. a cluster runs tasks on workers. "
SCHEMA = {
    "type": "object",
    "properties": {"city": {"enum": ["Oslo", "Rome"]}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
}


@pytest.fixture(scope="module")
def folders() -> dict[str, Path]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(tempfile.mkdtemp())
    model = build_tiny_model(root / "tiny", context=512)
    wider = build_tiny_model(root / "wider", context=512)
    from transformers import GPT2Config, GPT2LMHeadModel

    config = json.loads((wider / "config.json").read_text())
    GPT2LMHeadModel(GPT2Config(**{**config, "n_embd": 32})).save_pretrained(wider)
    return {
        "model": model,
        "one": build_tiny_adapter(model, root / "one", seed=1),
        "two": build_tiny_adapter(model, root / "two", seed=2),
        "misfit": build_tiny_adapter(wider, root / "misfit", seed=3),
    }


def _spec(folders: dict[str, Path], engine: str, **extra: Any) -> ModelSpec:
    options: dict[str, Any] = {"precision": "fp32", "gpu_per_replica": 1, "max_sequence_length": 512}
    return ModelSpec(str(folders["model"]), engine=engine, batch_size=4, **{**options, **extra})


def _texts(engine: Any, requests: list[GenerationRequest]) -> list[str]:
    return [r.text for r in engine.generate([(q, engine.prompt_ids(q)) for q in requests])]


@pytest.fixture(scope="module")
def transformers_engines(folders: dict[str, Path]) -> Iterator[tuple[Any, Any]]:
    needs_torch_cuda("prefix reuse, adapters and structured output on the transformers engine on a GPU")
    from pycluster.llm.engines.transformers_engine import TransformersEngine

    path = str(folders["model"])
    plain = TransformersEngine(_spec(folders, "transformers", prefix_cache_mb=0), path)
    cached = TransformersEngine(_spec(folders, "transformers"), path)
    assert cached.device == "cuda"
    yield plain, cached
    plain.close()
    cached.close()


def test_transformers_prefix_reuse_on_gpu_keeps_greedy_text(transformers_engines: tuple[Any, Any]) -> None:
    plain, cached = transformers_engines
    requests = [GenerationRequest(SYSTEM * 3 + f"question {i}", max_tokens=12) for i in range(6)]
    expected = _texts(plain, requests)
    assert _texts(cached, requests[:1]) == expected[:1]
    assert _texts(cached, requests) == expected  # the rest start from the cached system prompt
    assert cached.counters()["prefix_hits"] >= 5


def test_transformers_adapters_mix_in_one_gpu_batch(
    transformers_engines: tuple[Any, Any], folders: dict[str, Path]
) -> None:
    _, engine = transformers_engines
    engine.load_adapter("one", str(folders["one"]))
    engine.load_adapter("two", str(folders["two"]))
    requests = [
        GenerationRequest("the quick brown fox", max_tokens=10, adapter=a) for a in (None, "one", "two")
    ]
    alone = [_texts(engine, [r])[0] for r in requests]
    assert len(set(alone)) == 3 and _texts(engine, requests) == alone
    with pytest.raises(InferenceRequestError, match=r"adapters\.misfit"):
        engine.load_adapter("misfit", str(folders["misfit"]))
    assert _texts(engine, requests) == alone


def test_transformers_structured_output_on_gpu(transformers_engines: tuple[Any, Any]) -> None:
    import jsonschema

    _, engine = transformers_engines
    request = GenerationRequest("the weather:", max_tokens=60, json_schema=SCHEMA, temperature=0.8, seed=3)
    result = engine.generate([(request, engine.prompt_ids(request))])[0]
    jsonschema.validate(json.loads(result.text), SCHEMA)


@pytest.fixture(scope="module")
def vllm_engine(folders: dict[str, Path]) -> Iterator[Any]:
    needs_torch_cuda("vLLM prefix caching, LoRARequest adapters and structured outputs")
    if not HAS_VLLM:
        pytest.skip(
            "not run: vLLM prefix caching, LoRARequest adapters and structured outputs (no vllm here)"
        )
    from pycluster.llm.engines.vllm_engine import VLLMEngine

    adapters = {"one": str(folders["one"]), "two": str(folders["two"])}
    engine = VLLMEngine(_spec(folders, "vllm", adapters=adapters, memory_fraction=0.3), str(folders["model"]))
    yield engine
    engine.close()


def test_vllm_prefix_caching_is_on(vllm_engine: Any) -> None:
    config = vllm_engine.engine.vllm_config.cache_config
    assert config.enable_prefix_caching
    requests = [GenerationRequest(SYSTEM * 3 + f"question {i}", max_tokens=8) for i in range(4)]
    assert _texts(vllm_engine, requests) == _texts(vllm_engine, requests)


def test_vllm_lora_requests_per_row(vllm_engine: Any, folders: dict[str, Path]) -> None:
    requests = [
        GenerationRequest("the quick brown fox", max_tokens=10, adapter=a) for a in (None, "one", "two")
    ]
    alone = [_texts(vllm_engine, [r])[0] for r in requests]
    assert len(set(alone)) == 3 and _texts(vllm_engine, requests) == alone
    with pytest.raises(InferenceRequestError, match=r"adapters\.misfit"):
        vllm_engine.load_adapter("misfit", str(folders["misfit"]))
    with pytest.raises(InferenceRequestError, match="model"):
        vllm_engine.prompt_ids(GenerationRequest("x", adapter="nope"))


def test_vllm_structured_output(vllm_engine: Any) -> None:
    import jsonschema

    request = GenerationRequest("the weather:", max_tokens=60, json_schema=SCHEMA)
    jsonschema.validate(json.loads(_texts(vllm_engine, [request])[0]), SCHEMA)
