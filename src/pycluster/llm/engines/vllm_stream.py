"""From vLLM's asynchronous outputs to our rows: text pieces as tokens are made, one result at the end.

vLLM's ``AsyncLLM.generate`` yields a ``RequestOutput`` per engine step for one request
(cumulative by default: ``outputs[0].text`` and ``.token_ids`` so far, ``finished`` at the end).
``apply_output`` turns each into what a transformers row gives: the new text through
``row.on_text`` (holding back a tail that may still become a stop sequence) and, once
finished, a ``GenerationResult``. ``serve_row`` follows one request to its end; a row that is
cancelled or past its deadline stops at its next output, and closing vLLM's generator is
what aborts the request inside the engine (vLLM frees its KV blocks then).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from .base import GenerationResult
from .decode import Row
from .stopping import unsent

__all__ = ["StreamCounters", "apply_output", "serve_row"]


@dataclass
class StreamCounters:
    tokens_generated: int = 0  # tokens vLLM reported, over every request
    rows_ended_early: int = 0  # cancelled or past their deadline


def apply_output(row: Row, output: Any) -> GenerationResult | None:
    """Take one cumulative ``RequestOutput`` for ``row``: stream its new text; the result once finished."""
    best = output.outputs[0]
    row.tokens = list(best.token_ids)
    finished = bool(output.finished)
    _send(row, str(best.text), final=finished)
    if not finished:
        return None
    # vLLM says "stop" (EOS, stop string), "length" or "abort"
    reason = best.finish_reason or "stop"
    return GenerationResult(str(best.text), len(row.tokens), len(row.ids), str(reason))


def ended_early(row: Row, reason: str, text: str) -> GenerationResult:
    _send(row, text, final=True)
    return GenerationResult(text, len(row.tokens), len(row.ids), reason)


async def serve_row(row: Row, outputs: AsyncGenerator[Any, None], counters: StreamCounters) -> None:
    """Follow ``outputs`` (vLLM's generator for ``row``'s request) into ``row`` until it ends.

    A cancelled task (``VLLMEngine.cancel``, or the deadline timer) or a row marked cancelled
    ends it with finish_reason "cancelled" or "timeout"; either way ``row.on_result`` is called
    exactly once and the generator is closed, which makes vLLM abort the request.
    """
    result: GenerationResult | None = None
    text = ""
    try:
        async for output in outputs:
            counters.tokens_generated += max(0, len(output.outputs[0].token_ids) - len(row.tokens))
            reason = row.ended(time.monotonic())
            if reason is not None:
                break
            # no break once finished: vLLM's generator ends by itself, and closing it early would abort
            result = apply_output(row, output)
            text = str(output.outputs[0].text)
    except asyncio.CancelledError:
        pass  # cancel() or the deadline: the row ends below with its reason
    except Exception as exc:  # vLLM refused or failed the request: its caller hears why
        row.fail(exc)
        return  # (the generator is closed below)
    finally:
        await outputs.aclose()
    if result is None:
        counters.rows_ended_early += 1
        result = ended_early(row, row.ended(time.monotonic()) or "cancelled", text)
    row.on_result(row, result)


def _send(row: Row, text: str, final: bool) -> None:
    if row.on_text is None:
        return
    ready = unsent(text, row.sent, row.request.stop, final)
    if ready:
        row.on_text(ready)
        row.sent += len(ready)
