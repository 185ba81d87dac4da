"""Per-sequence stop rules for a forward batch: EOS, max_tokens and stop sequences."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .base import GenerationRequest, GenerationResult

__all__ = ["finish", "first_stop", "unsent"]


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index where the earliest stop sequence starts in ``text`` (None if none occurs)."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def finish(
    request: GenerationRequest,
    new_ids: Sequence[int],
    prompt_tokens: int,
    eos_ids: set[int],
    decode: Callable[[Sequence[int]], str],
) -> GenerationResult:
    """Cut a row's generated ids at EOS, its own max_tokens and its first stop sequence."""
    ids = list(new_ids)
    reason = "length"
    eos = next((i for i, token in enumerate(ids) if token in eos_ids), None)
    if eos is not None and eos < request.max_tokens:
        ids, reason = ids[:eos], "stop"
    else:
        ids = ids[: request.max_tokens]
    text = decode(ids)
    cut = first_stop(text, request.stop)
    if cut is None:
        return GenerationResult(text, len(ids), prompt_tokens, reason)
    kept = next(
        (k for k in range(1, len(ids) + 1) if first_stop(decode(ids[:k]), request.stop) is not None), 0
    )
    return GenerationResult(text[:cut], kept, prompt_tokens, "stop")


def unsent(text: str, sent: int, stops: Sequence[str], final: bool) -> str:
    """What a stream may send now past its first ``sent`` characters of ``text``: all of it at
    the end, else all but a tail that may still grow into a stop sequence."""
    hold = 0 if final else max((len(s) - 1 for s in stops), default=0)
    return text[sent : max(sent, len(text) - hold)]
