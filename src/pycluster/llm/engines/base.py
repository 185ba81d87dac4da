"""What every engine takes and gives: requests, results, and the Engine protocol."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ...errors import MissingDependencyError

__all__ = ["Engine", "GenerationRequest", "GenerationResult", "TokenCallback", "require"]

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
    finish_reason: str  # "stop" (EOS or a stop sequence) or "length" (max_tokens)

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
