"""Inference engines: transformers (default, CPU or GPU) and vLLM (GPU workers with vllm)."""

from __future__ import annotations

import importlib.util

from ..spec import ModelSpec
from .base import Engine, GenerationRequest, GenerationResult, require

__all__ = ["Engine", "GenerationRequest", "GenerationResult", "choose_engine", "load_engine", "require"]


def choose_engine(spec: ModelSpec, on_gpu: bool) -> str:
    """``auto``: vLLM on a GPU worker that has it, else transformers."""
    if spec.engine != "auto":
        return spec.engine
    if on_gpu and importlib.util.find_spec("vllm") is not None:
        return "vllm"
    return "transformers"


def load_engine(spec: ModelSpec, model_path: str, on_gpu: bool) -> Engine:
    name = choose_engine(spec, on_gpu)
    if name == "vllm":
        from .vllm_engine import VLLMEngine

        return VLLMEngine(spec, model_path)
    from .transformers_engine import TransformersEngine

    return TransformersEngine(spec, model_path)
