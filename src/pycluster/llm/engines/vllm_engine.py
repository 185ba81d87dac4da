"""The vLLM engine (GPU workers with vllm installed): continuous batching inside vLLM itself.

Sharding: ``tensor_parallel`` sets ``tensor_parallel_size=gpu_per_replica``;
``pipeline_parallel`` sets ``pipeline_parallel_size=gpu_per_replica``.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from ..spec import ModelSpec
from .base import GenerationRequest, GenerationResult, TokenCallback, prompt_ids, require
from .vllm_features import VLLMAdapters, lora_options, structured_options

__all__ = ["VLLMEngine"]

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "auto", "int4": "auto"}


class VLLMEngine:
    name = "vllm"

    def __init__(self, spec: ModelSpec, model_path: str) -> None:
        vllm = require("vllm", "engine='vllm'", "llm")
        self.vllm = vllm
        size = max(1, spec.gpu_per_replica)
        parallel = (
            {"tensor_parallel_size": size}
            if spec.sharding_strategy != "pipeline_parallel"
            else {"pipeline_parallel_size": size}
        )
        options: dict[str, Any] = {
            "dtype": _DTYPES[spec.precision],
            "max_model_len": spec.max_sequence_length,
            "enable_prefix_caching": spec.prefix_cache_mb > 0,  # vLLM's automatic prefix caching
        }
        if spec.precision in ("int8", "int4"):
            options["quantization"] = "bitsandbytes"
        if spec.memory_fraction is not None:  # gpu.memory_fraction: vLLM's own name for it
            options["gpu_memory_utilization"] = spec.memory_fraction
        _allow_engine_processes(size)
        options.update(lora_options(spec.adapters))
        self.llm = vllm.LLM(model=model_path, max_num_seqs=spec.batch_size, **parallel, **options)
        self.adapters = VLLMAdapters(vllm, self.llm, bool(spec.adapters))
        for name, path in spec.adapters.items():
            self.adapters.load(name, path)
        self.tokenizer = self.llm.get_tokenizer()
        self.context_length = spec.max_sequence_length
        self.device = "cuda"

    def load_adapter(self, name: str, path: str) -> None:
        self.adapters.load(name, path)

    def unload_adapter(self, name: str) -> None:
        self.adapters.unload(name)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        self.adapters.request(request.adapter)  # an unknown adapter is refused before it queues
        return prompt_ids(self.tokenizer, request, self.context_length)

    def generate(
        self,
        batch: list[tuple[GenerationRequest, list[int]]],
        on_text: TokenCallback | None = None,
    ) -> list[GenerationResult]:
        params = [
            self.vllm.SamplingParams(
                max_tokens=r.max_tokens,
                temperature=r.temperature,
                top_p=r.top_p,
                stop=r.stop or None,
                seed=r.seed,
                **structured_options(self.vllm, r),
            )
            for r, _ in batch
        ]
        prompts = [{"prompt_token_ids": ids} for _, ids in batch]
        loras = [self.adapters.request(r.adapter) for r, _ in batch]
        lora = {"lora_request": loras} if any(loras) else {}
        outputs = self.llm.generate(prompts, params, use_tqdm=False, **lora)
        results = []
        for (_, ids), out in zip(batch, outputs):
            best = out.outputs[0]
            results.append(
                GenerationResult(best.text, len(best.token_ids), len(ids), best.finish_reason or "stop")
            )
        if on_text is not None and results:
            on_text(results[0].text)  # vLLM's offline API returns whole texts
        return results

    def close(self) -> None:
        self.llm = None


def _allow_engine_processes(gpus: int) -> None:
    """Dask starts worker processes as daemons, and a daemon may not start children, which
    vLLM does for its engine core and for each extra GPU. One GPU: run the engine core in this
    process. Several: vLLM needs its GPU worker processes, so this worker stops calling itself
    a daemon (its Nanny still ends it, and vLLM ends its own children when its parent dies)."""
    current = multiprocessing.current_process()
    if not current.daemon:
        return
    if gpus == 1:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    else:
        current.daemon = False
