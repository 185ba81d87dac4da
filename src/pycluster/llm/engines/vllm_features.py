"""What the vLLM engine adds per request: LoRA adapters (LoRARequest) and structured output.

Kept apart from ``vllm_engine.py`` so that the engine's serving loop stays one thing; the
engine calls these to build each request's ``lora_request`` and ``SamplingParams`` options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import InferenceRequestError
from ..adapters import check_adapter_name, first_line
from .base import GenerationRequest

__all__ = ["VLLMAdapters", "lora_options", "structured_options"]

MAX_LORA_RANK = 64


def lora_options(adapters: dict[str, str]) -> dict[str, Any]:
    """Engine options: LoRA is switched on only for a deployment that has adapters (it
    reserves GPU memory for them and runs slower kernels)."""
    if not adapters:
        return {}
    return {"enable_lora": True, "max_loras": max(1, len(adapters)), "max_lora_rank": MAX_LORA_RANK}


def structured_options(vllm: Any, request: GenerationRequest) -> dict[str, Any]:
    """``SamplingParams`` options that constrain the answer to ``request.json_schema``."""
    if request.json_schema is None:
        return {}
    params = getattr(vllm, "sampling_params", None)
    if params is not None and hasattr(params, "StructuredOutputsParams"):  # vLLM >= 0.11
        return {"structured_outputs": params.StructuredOutputsParams(json=request.json_schema)}
    if params is not None and hasattr(params, "GuidedDecodingParams"):  # older vLLM
        return {"guided_decoding": params.GuidedDecodingParams(json=request.json_schema)}
    raise InferenceRequestError("response_format: this vLLM version has no structured output")


class VLLMAdapters:
    """The LoRA adapters of one vLLM replica: name -> LoRARequest (vLLM loads them on use)."""

    def __init__(self, vllm: Any, engine_call: Callable[..., Any], enabled: bool) -> None:
        # engine_call(method, *args): one of the engine's methods, waited for (add_lora, remove_lora)
        self.vllm, self.engine_call, self.enabled = vllm, engine_call, enabled
        self.requests: dict[str, Any] = {}
        self._next_id = 1

    def load(self, name: str, path: str) -> None:
        check_adapter_name(name)
        if not self.enabled:
            raise InferenceRequestError(
                "adapters: this vLLM replica runs without LoRA: deploy with adapters to switch it on"
            )
        if not (Path(path) / "adapter_config.json").is_file():
            raise InferenceRequestError(
                f"adapters.{name}: no peft adapter at {path} (no adapter_config.json)"
            )
        from vllm.lora.request import LoRARequest

        lora = LoRARequest(name, self._next_id, path)
        try:  # loads it now, so an adapter that does not fit fails here, not in a request
            self.engine_call("add_lora", lora)
        except Exception as exc:
            raise InferenceRequestError(
                f"adapters.{name}: the adapter at {path} does not match the base model: {first_line(exc)}"
            ) from None
        self._next_id += 1
        self.requests[name] = lora

    def unload(self, name: str) -> None:
        lora = self.requests.pop(name, None)
        if lora is not None:
            self.engine_call("remove_lora", lora.lora_int_id)

    def request(self, name: str | None) -> Any:
        if name is None:
            return None
        if name not in self.requests:
            known = ", ".join(sorted(self.requests)) or "none"
            raise InferenceRequestError(f"model: this deployment has no adapter {name!r} (it has: {known})")
        return self.requests[name]
