"""What every engine takes and gives: requests, results, and the Engine protocol."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ...errors import InferenceRequestError, MissingDependencyError

__all__ = ["Engine", "GenerationRequest", "GenerationResult", "TokenCallback", "prompt_ids", "require"]

TokenCallback = Callable[[str], None]


@dataclass
class GenerationRequest:
    """One prompt (or chat ``messages``) and how to sample its continuation."""

    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    request_id: str | None = None  # the head's name for it, so it can be cancelled
    timeout: float | None = None  # seconds from its arrival at the replica; then its row ends
    adapter: str | None = None  # a LoRA adapter of the deployment, by name (None: the base model)
    json_schema: dict[str, Any] | None = None  # constrain the answer to JSON matching this schema

    @property
    def batch_key(self) -> tuple[Any, ...]:
        """Requests with the same key can share one forward pass (same sampling settings)."""
        if self.temperature <= 0:
            return ("greedy",)
        return ("sample", self.temperature, self.top_p, self.seed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationResult:
    text: str
    tokens_generated: int
    prompt_tokens: int
    # "stop" (EOS or a stop sequence), "length" (max_tokens); ended early: "cancelled", "timeout"
    finish_reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    """Loaded once per replica; ``generate`` runs one forward batch (one ``generate`` call)."""

    name: str
    context_length: int
    device: str

    def prompt_ids(self, request: GenerationRequest) -> list[int]: ...

    def generate(
        self,
        batch: list[tuple[GenerationRequest, list[int]]],
        on_text: TokenCallback | None = None,
    ) -> list[GenerationResult]: ...

    def close(self) -> None: ...


def require(module: str, feature: str = "LLM serving", extra: str = "llm") -> Any:
    """Import an optional dependency, or MissingDependencyError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module.split(".")[0], extra, feature) from None


def prompt_ids(tokenizer: Any, request: GenerationRequest, context_length: int) -> list[int]:
    """The request's prompt (or chat messages, through the tokenizer's chat template) as token
    ids; InferenceRequestError when it is empty or leaves no room for ``max_tokens``."""
    if request.messages is not None:
        if not getattr(tokenizer, "chat_template", None):
            raise InferenceRequestError("this model's tokenizer has no chat template: send a prompt instead")
        ids = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        ids = list(ids)
    else:
        ids = list(tokenizer(request.prompt or "")["input_ids"])
    if not ids:
        raise InferenceRequestError("the prompt is empty: send at least one token of text")
    if len(ids) + request.max_tokens > context_length:
        raise InferenceRequestError(
            f"the prompt has {len(ids)} tokens and max_tokens is {request.max_tokens}, but the model's "
            f"context is {context_length} tokens: shorten the prompt or lower max_tokens"
        )
    return ids
