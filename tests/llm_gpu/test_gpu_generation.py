"""Prefix reuse, LoRA adapters and structured output on a real GPU, both engines (issue 21).

Runs where torch has CUDA (the device machine); elsewhere each test is skipped saying what
it would have checked (the skip is decided before any model is built). The engines run in
this process on tiny local models: on a GPU the transformers engine's cached prefixes,
adapter weights and logit masks live in GPU memory, and vLLM does all three its own way
(automatic prefix caching, LoRARequest, structured outputs). vLLM runs a tiny Llama in fp16:
its GPT-2 implementation has no LoRA support (``GPT2LMHeadModel`` is ``SupportsPP`` only,
and ``enable_lora`` refuses such a model), and its LoRA kernels are for 16-bit weights.
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
from tests.gpu.test_real_gpu import needs_gpu, needs_torch_cuda
from tests.llm.tiny_model import build_tiny_adapter, build_tiny_llama, build_tiny_model

pytestmark = pytest.mark.gpu

HAS_VLLM = importlib.util.find_spec("vllm") is not None
LLAMA_LORA = ("q_proj", "v_proj")


def needs_vllm(what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not HAS_VLLM, reason=f"not run: {what} (vllm is not installed here)")


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
    llama = build_tiny_llama(root / "llama", context=512)
    wide_llama = build_tiny_llama(root / "wide-llama", context=512, hidden=32)
    return {
        "model": model,
        "one": build_tiny_adapter(model, root / "one", seed=1),
        "two": build_tiny_adapter(model, root / "two", seed=2),
        "misfit": build_tiny_adapter(wider, root / "misfit", seed=3),
        "llama": llama,
        "llama-one": build_tiny_adapter(llama, root / "llama-one", seed=1, target_modules=LLAMA_LORA),
        "llama-two": build_tiny_adapter(llama, root / "llama-two", seed=2, target_modules=LLAMA_LORA),
        "llama-misfit": build_tiny_adapter(
            wide_llama, root / "llama-misfit", seed=3, target_modules=LLAMA_LORA
        ),
    }


def _spec(folders: dict[str, Path], engine: str, model: str = "model", **extra: Any) -> ModelSpec:
    options: dict[str, Any] = {"precision": "fp32", "gpu_per_replica": 1, "max_sequence_length": 512}
    return ModelSpec(str(folders[model]), engine=engine, batch_size=4, **{**options, **extra})


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


@needs_gpu(
    "transformers engine on cuda: requests sharing a long prompt start from its cached KV, same greedy text"
)
def test_transformers_prefix_reuse_on_gpu_keeps_greedy_text(transformers_engines: tuple[Any, Any]) -> None:
    plain, cached = transformers_engines
    requests = [GenerationRequest(SYSTEM * 3 + f"question {i}", max_tokens=12) for i in range(6)]
    expected = _texts(plain, requests)
    assert _texts(cached, requests[:1]) == expected[:1]
    assert _texts(cached, requests) == expected  # the rest start from the cached system prompt
    assert cached.counters()["prefix_hits"] >= 5


@needs_gpu(
    "transformers engine on cuda: two LoRA adapters and the base mix in one batch; a misfit is refused"
)
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


@needs_gpu("transformers engine on cuda: sampled text constrained to a JSON Schema validates")
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

    adapters = {"one": str(folders["llama-one"]), "two": str(folders["llama-two"])}
    spec = _spec(folders, "vllm", "llama", precision="fp16", adapters=adapters, memory_fraction=0.3)
    engine = VLLMEngine(spec, str(folders["llama"]))
    yield engine
    engine.close()


@needs_gpu("vLLM on cuda: automatic prefix caching is on and repeated long prompts keep their text")
@needs_vllm("vLLM on cuda: automatic prefix caching is on and repeated long prompts keep their text")
def test_vllm_prefix_caching_is_on(vllm_engine: Any) -> None:
    config = vllm_engine.engine.vllm_config.cache_config
    assert config.enable_prefix_caching
    requests = [GenerationRequest(SYSTEM * 3 + f"question {i}", max_tokens=8) for i in range(4)]
    assert _texts(vllm_engine, requests) == _texts(vllm_engine, requests)


@needs_gpu("vLLM on cuda: a LoRARequest per row, 2 adapters and the base in one batch; a misfit is refused")
@needs_vllm("vLLM on cuda: a LoRARequest per row, 2 adapters and the base in one batch; a misfit is refused")
def test_vllm_lora_requests_per_row(vllm_engine: Any, folders: dict[str, Path]) -> None:
    requests = [
        GenerationRequest("the quick brown fox", max_tokens=10, adapter=a) for a in (None, "one", "two")
    ]
    alone = [_texts(vllm_engine, [r])[0] for r in requests]
    assert len(set(alone)) == 3 and _texts(vllm_engine, requests) == alone
    with pytest.raises(InferenceRequestError, match=r"adapters\.misfit"):
        vllm_engine.load_adapter("misfit", str(folders["llama-misfit"]))
    with pytest.raises(InferenceRequestError, match="model"):
        vllm_engine.prompt_ids(GenerationRequest("x", adapter="nope"))


@needs_gpu("vLLM on cuda: an answer constrained to a JSON Schema (structured outputs) validates")
@needs_vllm("vLLM on cuda: an answer constrained to a JSON Schema (structured outputs) validates")
def test_vllm_structured_output(vllm_engine: Any) -> None:
    import jsonschema

    request = GenerationRequest("the weather:", max_tokens=60, json_schema=SCHEMA)
    jsonschema.validate(json.loads(_texts(vllm_engine, [request])[0]), SCHEMA)
