"""The transformers engine: one model per replica, served with continuous batching.

``serve`` runs rows through ``DecodeLoop`` (rows join and leave between decode steps); a
model whose generation config changes greedy decoding (repetition penalty, forced tokens,
...) is served with one ``model.generate`` call per batch instead (``serve_whole``), so its
text stays exactly what ``generate`` gives; its cancelled and overdue rows end there too.

Sharding: ``pipeline_parallel`` splits the layers over the replica's GPUs with accelerate's
``device_map="auto"``; ``tensor_parallel`` needs the vLLM engine and is refused here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import ConfigError, InferenceRequestError
from ..adapters import AdapterSet
from ..constrained import Constraints
from ..prefix_cache import PrefixCache
from ..spec import ModelSpec
from .base import GenerationRequest, GenerationResult, TokenCallback, prompt_ids, require
from .decode import DecodeLoop, Row, plain_generation_config
from .stopping import finish, first_stop, unsent

__all__ = ["TransformersEngine"]

log = logging.getLogger(__name__)
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class TransformersEngine:
    name = "transformers"

    def __init__(self, spec: ModelSpec, model_path: str) -> None:
        if spec.sharding_strategy == "tensor_parallel":
            raise ConfigError(
                "sharding_strategy='tensor_parallel' needs the vLLM engine (engine='vllm' on a GPU worker "
                "with vllm installed); the transformers engine supports pipeline_parallel (layers split "
                "over the replica's GPUs) or no sharding"
            )
        self.torch = require("torch")
        transformers = require("transformers")
        self.spec = spec
        self.device = _device(self.torch, spec.gpu_per_replica)
        if self.device.startswith("cuda") and spec.memory_fraction is not None:
            # gpu.memory_fraction: the caching allocator refuses to grow past it (an OOM error, not a hang)
            for index in range(self.torch.cuda.device_count()):
                self.torch.cuda.set_per_process_memory_fraction(spec.memory_fraction, index)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"  # decoder-only models continue from the right end
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = transformers.AutoModelForCausalLM.from_pretrained(model_path, **self._load_options())
        if self.spec.sharding_strategy != "pipeline_parallel":
            self.model.to(self.device)
        self.model.eval()
        self.context_length = min(spec.max_sequence_length, _model_context(self.model.config))
        self.eos_ids = _eos_ids(self.model.generation_config, self.tokenizer)
        # rows join and leave a running batch only where the loop decodes exactly as generate
        self.continuous = plain_generation_config(self.model)
        # what ``serve_whole`` made and let go early (the loop counts its own)
        self.whole_tokens_generated = self.whole_rows_ended_early = 0
        self.constraints = Constraints(self.tokenizer, self.eos_ids)
        self.adapters = AdapterSet(self.model, spec.model_name)
        self._loop = DecodeLoop(
            self.torch,
            self.model,
            self.eos_ids,
            self.tokenizer.pad_token_id,
            self.context_length,
            self.decode,
            PrefixCache(int(spec.prefix_cache_mb * 2**20)),
            self.constraints,
            self.adapters,
        )
        for name, path in spec.adapters.items():
            self.load_adapter(name, path)

    def _load_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        precision = self.spec.precision
        if precision in ("int8", "int4"):
            bnb = require("bitsandbytes", f"precision={precision!r}", "llm")  # noqa: F841
            options["load_in_8bit" if precision == "int8" else "load_in_4bit"] = True
        else:
            options["dtype"] = getattr(self.torch, _DTYPES[precision])
        if self.spec.sharding_strategy == "pipeline_parallel" and self.device.startswith("cuda"):
            options["device_map"] = "auto"  # accelerate: consecutive layers on consecutive GPUs
            if self.spec.max_memory_per_gpu:
                gb = f"{self.spec.max_memory_per_gpu}GB"
                options["max_memory"] = {i: gb for i in range(self.torch.cuda.device_count())}
        return options

    # ------------------------------------------------------------------ requests
    def load_adapter(self, name: str, path: str) -> None:
        """Load a LoRA adapter (call it between batches: the replica's batcher thread does)."""
        if not self.continuous:
            raise InferenceRequestError(
                "adapters: LoRA adapters need the continuous decode loop, and this model's generation "
                "config (repetition penalty, forced tokens, ...) rules it out"
            )
        self.adapters.load(name, path)

    def unload_adapter(self, name: str) -> None:
        self.adapters.unload(name)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        self.adapters.check(request.adapter)
        if request.json_schema is not None:  # refused here, before it queues
            if not self.continuous:
                raise InferenceRequestError(
                    "response_format: structured output needs the continuous decode loop, and this "
                    "model's generation config (repetition penalty, forced tokens, ...) rules it out"
                )
            self.constraints.parser(request.json_schema)
        return prompt_ids(self.tokenizer, request, self.context_length)

    def serve(self, rows: list[Row], admit: Callable[[int], list[Row]]) -> None:
        """Serve ``rows`` and whoever ``admit(n)`` hands over while they run (continuous only)."""
        self._loop.run(rows, admit, self.spec.batch_size)

    def generate(
        self,
        batch: list[tuple[GenerationRequest, list[int]]],
        on_text: TokenCallback | None = None,
    ) -> list[GenerationResult]:
        """One batch, every row's result in order; ``on_text`` streams the first row's text."""
        results: dict[int, GenerationResult] = {}

        def keep(i: int) -> Callable[[Row, GenerationResult], None]:
            return lambda _row, result: results.__setitem__(i, result)

        rows = [Row(request, ids, keep(i)) for i, (request, ids) in enumerate(batch)]
        rows[0].on_text = on_text
        if self.continuous:
            self._loop.run(rows, lambda n: [], max(len(rows), self.spec.batch_size))
        else:
            self.serve_whole(rows)
        return [results[i] for i in range(len(rows))]

    def serve_whole(self, rows: list[Row]) -> None:
        """One ``model.generate`` call for ``rows`` (generation configs the loop cannot do).

        A row cancelled or past its deadline is finished by the stopping criterion after the
        step that notices it: it gets no more tokens and is answered at the batch's end
        (``finish_reason`` "cancelled" / "timeout"). ``generate`` still computes a finished
        row's padding until the batch's last row ends, so the compute is freed only when every
        row has ended; the loop (``serve``) frees it at once.
        """
        now = time.monotonic()
        for row in [r for r in rows if r.ended(now)]:  # cancelled while queued, or already overdue
            self._answer_whole(row, row.ended(now) or "cancelled", len(rows))
        rows = [r for r in rows if not r.ended(now)]
        if not rows:
            return
        torch = self.torch
        first = rows[0].request
        inputs = self.tokenizer.pad({"input_ids": [row.ids for row in rows]}, return_tensors="pt")
        inputs = {k: v.to(self.model.device) for k, v in inputs.items()}
        options = self._sampling(first)
        if first.seed is not None:
            torch.manual_seed(first.seed)
        stopper = _BatchStop(self, rows, inputs["input_ids"].shape[1])
        with torch.inference_mode():
            self.model.generate(
                **inputs,
                max_new_tokens=max(row.request.max_tokens for row in rows),
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=[stopper],
                **options,
            )
        for row, early in zip(rows, stopper.early):
            self._answer_whole(row, early, len(rows))

    def _answer_whole(self, row: Row, early: str | None, batch_size: int) -> None:
        result = finish(row.request, row.tokens, len(row.ids), self.eos_ids, self.decode)
        if early is not None:
            result.finish_reason = early
            self.whole_rows_ended_early += 1
        row.batch_size = batch_size
        row.on_result(row, result)

    def _sampling(self, request: GenerationRequest) -> dict[str, Any]:
        if request.temperature <= 0:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p, "top_k": 0}

    def counters(self) -> dict[str, int]:
        """Tokens the decode loop made, rows it let go early (cancelled or overdue), and the prefix
        cache's counters (entries, bytes, hits, misses, reused tokens)."""
        return {
            "tokens_generated": self._loop.tokens_generated + self.whole_tokens_generated,
            "rows_ended_early": self._loop.rows_ended_early + self.whole_rows_ended_early,
            **self._loop.prefix_cache.stats(),
        }

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids as text, special tokens left out (also used by the engine's decode loops)."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def close(self) -> None:
        self.model = self.adapters.model = self._loop.model = None
        self._loop.prefix_cache.clear()  # its tensors hold device memory too
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


class _BatchStop:
    """A stopping criterion that finishes each row on its own: EOS, max_tokens, a stop sequence,
    or its caller gone (cancelled) or its deadline passed (``early`` says which).

    It keeps each row's ``tokens`` current and streams the text of rows that have ``on_text``.
    """

    def __init__(self, engine: TransformersEngine, rows: list[Row], width: int) -> None:
        self.engine = engine
        self.rows = rows
        self.width = width
        self.done = [False] * len(rows)
        self.early: list[str | None] = [None] * len(rows)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        torch = self.engine.torch
        now = time.monotonic()
        for i, (ids, row) in enumerate(zip(input_ids[:, self.width :].tolist(), self.rows)):
            if self.done[i]:
                continue  # generate pads a finished row from here on
            row.tokens = ids
            self.engine.whole_tokens_generated += 1
            self.done[i] = self._row_done(row)
            if not self.done[i]:
                self.early[i] = row.ended(now)  # after the step's text went out, as in the loop
                self.done[i] = self.early[i] is not None
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)

    def _row_done(self, row: Row) -> bool:
        request, ids = row.request, row.tokens
        if len(ids) >= request.max_tokens or any(t in self.engine.eos_ids for t in ids):
            self._stream(row, final=True)
            return True
        if not request.stop and row.on_text is None:
            return False
        stopped = first_stop(self.engine.decode(ids), request.stop) is not None
        self._stream(row, final=stopped)
        return stopped

    def _stream(self, row: Row, final: bool) -> None:
        if row.on_text is None:
            return
        result = finish(row.request, row.tokens, 0, self.engine.eos_ids, self.engine.decode)
        ready = unsent(result.text, row.sent, row.request.stop, final)
        if ready:
            row.on_text(ready)
            row.sent += len(ready)


def _device(torch: Any, gpu_per_replica: int) -> str:
    if gpu_per_replica > 0 and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _model_context(config: Any) -> int:
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _eos_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    eos = getattr(generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
