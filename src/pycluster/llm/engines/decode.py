"""Continuous (iteration-level) batching over a transformers causal LM, with its KV cache.

One ``DecodeLoop.run`` serves rows until none is left: each step is one forward pass of
one new token for every running row. Between steps, requests that arrived meanwhile are
prefilled and join the running batch (their KV cache is left-padded to the batch's width),
and finished rows leave at once, so their callers get their answer without waiting for
the longest row. This replaces one ``model.generate`` call per batch: ``generate`` can
neither take rows in nor let them out, and its per-step machinery (logits processors,
stopping criteria, input preparation) costs about a fifth of the time on small models.

Greedy rows take the argmax of float32 logits, as ``generate(do_sample=False)`` does, so
their text is the same; generation configs that would change it (repetition penalty,
forced tokens, beams, ...) are not served here: ``plain_generation_config`` says so and
the engine falls back to ``generate``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..adapters import AdapterSet
from ..constrained import Constraints
from ..prefix_cache import PrefixCache, PrefixHit
from .base import GenerationRequest, GenerationResult, TokenCallback
from .stopping import finish, first_stop, unsent

__all__ = ["DecodeLoop", "Row", "plain_generation_config"]

# generation_config fields that change which token comes next (value that means "off")
_CHANGES_TOKENS: dict[str, tuple[Any, ...]] = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "exponential_decay_length_penalty": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "sequence_bias": (None,),
    "guidance_scale": (None, 1.0),
    "num_beams": (None, 1),
    "penalty_alpha": (None,),
    "dola_layers": (None,),
    "watermarking_config": (None,),
    "typical_p": (None, 1.0),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "min_p": (None, 0.0),
}


def plain_generation_config(model: Any) -> bool:
    """True when greedy ``generate`` on this model is the plain argmax this loop computes."""
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    config = getattr(model, "generation_config", None)
    return all(getattr(config, name, None) in off for name, off in _CHANGES_TOKENS.items())


@dataclass(eq=False)
class Row:
    """One request in the loop: its prompt ids, and where its text and result go."""

    request: GenerationRequest
    ids: list[int]
    on_result: Callable[[Row, GenerationResult], None]
    on_text: TokenCallback | None = None
    tokens: list[int] = field(default_factory=list)
    batch_size: int = 0  # the most rows it shared a forward step with
    sent: int = 0  # characters already streamed
    generator: Any = None  # its own seeded RNG, so a seed gives the same text in any batch
    deadline: float | None = None  # time.monotonic() past which the row ends ("timeout")
    cancelled: bool = False  # set from another thread when its caller went away
    # where an error that ends the row goes (engines that serve rows on a loop of their own,
    # where an exception would otherwise only be logged and the caller wait for its timeout)
    on_error: Callable[[Row, BaseException], None] | None = None

    def fail(self, error: BaseException) -> None:
        """End the row with ``error`` (raised again when there is nobody to give it to)."""
        if self.on_error is None:
            raise error
        self.on_error(self, error)

    def ended(self, now: float) -> str | None:
        """Why the row must leave before its next step ("cancelled", "timeout"), or None."""
        if self.cancelled:
            return "cancelled"
        if self.deadline is not None and now >= self.deadline:
            return "timeout"
        return None

    constraint: Any = None  # its structured-output state (constrained.py), made at its first token


class DecodeLoop:
    """Runs rows through ``model`` step by step; ``admit(n)`` hands over up to n newcomers."""

    def __init__(
        self,
        torch: Any,
        model: Any,
        eos_ids: set[int],
        pad_id: int,
        context_length: int,
        decode: Callable[[Sequence[int]], str],
        prefix_cache: PrefixCache | None = None,
        constraints: Constraints | None = None,
        adapters: AdapterSet | None = None,
    ) -> None:
        self.torch, self.model, self.eos_ids, self.pad_id = torch, model, eos_ids, pad_id
        self.context_length, self.decode = context_length, decode
        self.prefix_cache = prefix_cache if prefix_cache is not None else PrefixCache(0)
        self.constraints = constraints  # structured output (rows with a json_schema)
        self.adapters = adapters if adapters is not None else AdapterSet(model)
        self._keep_one = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.tokens_generated = 0  # every token any row was given (a cancelled row's stop counting)
        self.rows_ended_early = 0  # rows cancelled or past their deadline

    def run(self, rows: list[Row], admit: Callable[[int], list[Row]], capacity: int) -> None:
        with self.torch.inference_mode():
            batch: _Batch | None = None
            waiting = list(rows)
            while waiting or batch is not None:
                waiting = self._end_early(batch, waiting)
                if batch is not None and not batch.rows:
                    batch = None  # every running row was cancelled
                if batch is None:
                    batch = self._start(waiting[:capacity]) if waiting else None
                    waiting = waiting[capacity:]
                else:
                    room = capacity - len(batch.rows) - len(waiting)
                    waiting += admit(room) if room > 0 else []
                    waiting = self._join(batch, waiting)
                    self._step(batch)
                if batch is not None and not batch.rows:
                    batch = None  # the next rows start a fresh cache, as narrow as they are

    def _end_early(self, batch: _Batch | None, waiting: list[Row]) -> list[Row]:
        """Let cancelled and overdue rows go before the next step, so they cost no more compute;
        the other rows keep their cache lines and so their exact text. Returns the waiting rest."""
        now = time.monotonic()
        running = batch.rows if batch is not None else []
        reasons = {id(r): r.ended(now) for r in [*running, *waiting]}
        for row in [*running, *waiting]:
            reason = reasons[id(row)]
            if reason is not None:
                self._finish_early(row, reason)
        if batch is not None and any(reasons[id(r)] for r in running):
            batch.select(self.torch, [i for i, r in enumerate(running) if reasons[id(r)] is None])
        return [r for r in waiting if reasons[id(r)] is None]

    def _finish_early(self, row: Row, reason: str) -> None:
        result = finish(row.request, row.tokens, len(row.ids), self.eos_ids, self.decode)
        result.finish_reason = reason
        self.rows_ended_early += 1
        _stream(row, result.text, final=True)
        row.on_result(row, result)

    # ------------------------------------------------------------------ steps
    def _start(self, rows: list[Row]) -> _Batch:
        batch = self._prefill(rows)
        self._pick(batch, batch.logits)
        return batch

    def _prefill(self, rows: list[Row]) -> _Batch:
        """Run the rows' prompts through the model. Rows whose prompt starts with a cached
        prefix run only the rest of it, all in one more forward pass (their cached parts
        left-padded to one width), merged with the others into one batch."""
        hits = [self.prefix_cache.longest(row.ids, row.request.adapter) for row in rows]
        fresh = [row for row, hit in zip(rows, hits) if hit is None]
        reused = [(row, hit) for row, hit in zip(rows, hits) if hit is not None]
        parts = [self._prefill_rows(fresh, [])] if fresh else []
        if reused:
            parts.append(self._prefill_rows([row for row, _ in reused], [hit for _, hit in reused]))
        batch = parts[0]
        for part in parts[1:]:
            batch.logits = self.torch.cat([batch.logits, part.logits])
            batch.merge(self.torch, part)
        for row in batch.rows:
            if row.request.temperature > 0 and row.request.seed is not None:
                row.generator = self.torch.Generator(device=self.model.device).manual_seed(row.request.seed)
        return batch

    def _prefill_rows(self, rows: list[Row], hits: list[PrefixHit]) -> _Batch:
        """One forward pass over the rows' prompts, past their ``hits``' cached positions if given.

        Row i's columns: its cached prefix (left-padded to the longest one), then padding,
        then the rest of its prompt; the mask leaves both paddings out.
        """
        torch = self.torch
        cached = [hit.length for hit in hits] if hits else [0] * len(rows)
        widest = max(cached)
        rest = [len(r.ids) - n for r, n in zip(rows, cached)]
        width = max(rest)
        ids = torch.tensor([[self.pad_id] * (width - m) + r.ids[n:] for r, n, m in zip(rows, cached, rest)])
        mask = torch.tensor(
            [[0] * (widest - n) + [1] * n + [0] * (width - m) + [1] * m for n, m in zip(cached, rest)]
        )
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        positions = ((mask.cumsum(-1) - 1).clamp(min=0))[:, widest:]
        cache = _cache_from(self.torch, hits, widest) if hits else None
        logits, cache = self._forward(ids, mask, positions, cache, rows)
        batch = _Batch(list(rows), cache, mask, logits)
        if self.prefix_cache.enabled and batch.mergeable():
            self._keep_prefixes(batch)
        return batch

    def _keep_prefixes(self, batch: _Batch) -> None:
        """Copy each row's own prompt positions (no padding) out of the batch into the cache."""
        for i, row in enumerate(batch.rows):
            if not self.prefix_cache.wants(row.ids, row.request.adapter):
                continue  # too short, or already there: no copy
            where = batch.mask[i].nonzero().squeeze(-1)
            layers = [
                (layer.keys[i].index_select(-2, where), layer.values[i].index_select(-2, where))
                for layer in batch.cache.layers
            ]
            self.prefix_cache.add(row.ids, layers, row.request.adapter)

    def _step(self, batch: _Batch) -> None:
        torch = self.torch
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
        positions = batch.mask.sum(-1, keepdim=True) - 1
        logits, batch.cache = self._forward(batch.next_ids, batch.mask, positions, batch.cache, batch.rows)
        self._pick(batch, logits)

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any, rows: list[Row]) -> tuple[Any, Any]:
        options = {"logits_to_keep": 1} if self._keep_one else {}
        options.update(self.adapters.forward_options([r.request.adapter for r in rows]))
        out = self.adapters.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            **options,
        )
        return out.logits[:, -1, :].float(), out.past_key_values

    def _pick(self, batch: _Batch, logits: Any) -> None:
        """Choose each row's next token, let finished rows go, keep the rest's next input."""
        for i, row in enumerate(batch.rows):
            if row.request.json_schema is not None and self.constraints is not None:
                self.constraints.mask(row, logits[i])
        chosen = logits.argmax(dim=-1)
        for i, row in enumerate(batch.rows):
            if row.request.temperature > 0:
                chosen[i] = _sample(self.torch, logits[i], row)
        size = len(batch.rows)
        keep = [i for i, token in enumerate(chosen.tolist()) if not self._advance(batch.rows[i], token, size)]
        batch.next_ids = chosen[:, None]
        if len(keep) < len(batch.rows):
            batch.select(self.torch, keep)

    def _advance(self, row: Row, token: int, batch_size: int) -> bool:
        """Add ``token`` to ``row``; True (and its result sent) when the row is finished."""
        row.tokens.append(token)
        self.tokens_generated += 1
        row.batch_size = max(row.batch_size, batch_size)
        done = token in self.eos_ids or len(row.tokens) >= row.request.max_tokens
        text = None
        if not done and (row.request.stop or row.on_text is not None):
            text = self.decode(row.tokens)
            done = first_stop(text, row.request.stop) is not None
        if done:
            result = finish(row.request, row.tokens, len(row.ids), self.eos_ids, self.decode)
            _stream(row, result.text, final=True)
            row.on_result(row, result)
        elif row.on_text is not None and text is not None:
            _stream(row, text, final=False)
        return done

    # ------------------------------------------------------------------ joining
    def _join(self, batch: _Batch, waiting: list[Row]) -> list[Row]:
        """Prefill the waiting rows that fit and merge them into ``batch``; returns the rest."""
        if not waiting or not batch.mergeable():
            return waiting
        busy = max(r.request.max_tokens - len(r.tokens) for r in batch.rows)
        fits = [r for r in waiting if self._fits(batch.width, len(r.ids), max(busy, r.request.max_tokens))]
        if not fits:
            return waiting
        newcomers = self._prefill(fits)
        self._pick(newcomers, newcomers.logits)
        if newcomers.rows:
            batch.merge(self.torch, newcomers)
        return [r for r in waiting if r not in fits]

    def _fits(self, width: int, prompt: int, steps: int) -> bool:
        # the merged cache is as wide as its widest row; it must not outgrow the context
        return max(width, prompt) + steps <= self.context_length


class _Batch:
    """The running rows and their tensors: KV cache, attention mask, next input ids."""

    def __init__(self, rows: list[Row], cache: Any, mask: Any, logits: Any) -> None:
        self.rows, self.cache, self.mask, self.logits = rows, cache, mask, logits
        self.next_ids: Any = None

    @property
    def width(self) -> int:
        return int(self.mask.shape[1]) if self.rows else 0

    def mergeable(self) -> bool:
        """Only plain per-layer K/V tensors can be padded and joined (not sliding windows)."""
        layers = getattr(self.cache, "layers", None)
        return (
            layers is not None
            and len(layers) > 0
            and all(type(layer).__name__ == "DynamicLayer" for layer in layers)
        )

    def select(self, torch: Any, keep: list[int]) -> None:
        """Keep only the rows ``keep``, then drop the padding columns no row needs any more."""
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            return
        index = torch.tensor(keep, device=self.mask.device)
        self.mask, self.next_ids = self.mask[index], self.next_ids[index]
        self.cache.batch_select_indices(index)
        lead = int(self.mask.argmax(dim=1).min())  # leading all-padding columns
        if lead > 0 and self.mergeable():
            self.mask = self.mask[:, lead:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., lead:, :], layer.values[..., lead:, :]

    def merge(self, torch: Any, other: _Batch) -> None:
        width = max(self.width, other.width)
        self.mask = torch.cat([_left_pad(torch, self.mask, width), _left_pad(torch, other.mask, width)])
        if self.next_ids is not None:  # None while two prefills merge, before any token is picked
            self.next_ids = torch.cat([self.next_ids, other.next_ids])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = _stack_padded(torch, mine.keys, theirs.keys, width)
            mine.values = _stack_padded(torch, mine.values, theirs.values, width)
        self.rows += other.rows


def _cache_from(torch: Any, hits: list[PrefixHit], width: int) -> Any:
    """A DynamicCache holding each hit's keys and values, one row each, left-padded to ``width``."""
    from transformers import DynamicCache

    cache = DynamicCache()
    per_row = [hit.layers() for hit in hits]
    for index in range(len(per_row[0])):
        keys = torch.stack([_left_pad(torch, layers[index][0], width, -2) for layers in per_row])
        values = torch.stack([_left_pad(torch, layers[index][1], width, -2) for layers in per_row])
        cache.update(keys, values, index)
    return cache


def _stack_padded(torch: Any, ours: Any, theirs: Any, width: int) -> Any:
    """Two caches' K (or V) tensors, each left-padded to ``width`` positions, one batch."""
    return torch.cat([_left_pad(torch, ours, width, -2), _left_pad(torch, theirs, width, -2)])


def _left_pad(torch: Any, tensor: Any, width: int, dim: int = -1) -> Any:
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _sample(torch: Any, logits: Any, row: Row) -> Any:
    """Temperature and nucleus (top_p) sampling of one row's next token."""
    probs = torch.softmax(logits / row.request.temperature, dim=-1)
    if row.request.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > row.request.top_p  # keeps at least one
        probs = probs.scatter(0, order[outside], 0.0)
    return torch.multinomial(probs, 1, generator=row.generator)[0]


def _stream(row: Row, text: str, final: bool) -> None:
    """Send the text not yet sent, holding back a tail that may still become a stop sequence."""
    if row.on_text is None:
        return
    ready = unsent(text, row.sent, row.request.stop, final)
    if ready:
        row.on_text(ready)
        row.sent += len(ready)
