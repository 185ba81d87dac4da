"""The vLLM engine (GPU workers with vllm installed): vLLM's asynchronous engine, rows streamed as made.

Each request goes straight into vLLM's ``AsyncLLM`` (``AsyncLLMEngine``), which batches
continuously by itself: requests join between its steps and every step's tokens reach the
request's stream at once (``vllm_stream.serve_row``). The engine lives on an event loop of
its own (a ``LoopThread``), so vLLM's output handling never waits on the Dask worker's loop.
Cancelling a request (its caller went away) or passing its deadline aborts it inside vLLM.

Sharding: ``tensor_parallel`` sets ``tensor_parallel_size=gpu_per_replica``;
``pipeline_parallel`` sets ``pipeline_parallel_size=gpu_per_replica``.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ...cluster.loop import LoopThread
from ..spec import ModelSpec
from .base import GenerationRequest, GenerationResult, TokenCallback, prompt_ids, require
from .decode import Row
from .vllm_features import VLLMAdapters, lora_options, structured_options
from .vllm_stream import StreamCounters, serve_row

__all__ = ["VLLMEngine", "engine_options", "sampling_options"]

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "auto", "int4": "auto"}


def engine_options(spec: ModelSpec, model_path: str) -> dict[str, Any]:
    """``AsyncEngineArgs`` for a deployment's spec."""
    size = max(1, spec.gpu_per_replica)
    parallel = (
        "pipeline_parallel_size" if spec.sharding_strategy == "pipeline_parallel" else "tensor_parallel_size"
    )
    options: dict[str, Any] = {
        "model": model_path,
        "max_num_seqs": spec.batch_size,
        "dtype": _DTYPES[spec.precision],
        "max_model_len": spec.max_sequence_length,
        "enable_prefix_caching": spec.prefix_cache_mb > 0,  # vLLM's automatic prefix caching
        parallel: size,
        **lora_options(spec.adapters),
    }
    if spec.precision in ("int8", "int4"):
        options["quantization"] = "bitsandbytes"
    if spec.memory_fraction is not None:  # gpu.memory_fraction: vLLM's own name for it
        options["gpu_memory_utilization"] = spec.memory_fraction
    return options


def sampling_options(request: GenerationRequest) -> dict[str, Any]:
    """``SamplingParams`` for a request (cumulative outputs, vLLM's default, are what we follow)."""
    return {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": request.stop or None,
        "seed": request.seed,
    }


class VLLMEngine:
    """Rows go in with ``submit`` (the replica skips its own batcher); ``cancel`` aborts one."""

    name = "vllm"
    continuous = False

    def __init__(self, spec: ModelSpec, model_path: str) -> None:
        self.vllm = require("vllm", "engine='vllm'", "llm")
        _allow_engine_processes()
        self.counters_ = StreamCounters()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._thread = LoopThread("pycluster-vllm-engine").start()
        args = self.vllm.AsyncEngineArgs(**engine_options(spec, model_path))
        self.engine = self._thread.run(_start(self.vllm, args))
        self.tokenizer = self._thread.run(_tokenizer(self.engine))
        # LoRA: a LoRARequest per row; adapters load through the engine's own (async) calls
        self.adapters = VLLMAdapters(self.vllm, self._engine_call, bool(spec.adapters))
        for name, path in spec.adapters.items():
            self.adapters.load(name, path)
        self.context_length = spec.max_sequence_length
        self.device = "cuda"

    def load_adapter(self, name: str, path: str) -> None:
        self.adapters.load(name, path)

    def unload_adapter(self, name: str) -> None:
        self.adapters.unload(name)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        self.adapters.request(request.adapter)  # an unknown adapter is refused before it queues
        structured_options(self.vllm, request)  # and a schema this vLLM cannot follow
        return prompt_ids(self.tokenizer, request, self.context_length)

    def submit(self, row: Row) -> None:
        """Start ``row`` in vLLM (from any thread); its text streams and its result comes through the row."""
        self._thread.loop.call_soon_threadsafe(self._start_row, row)

    def cancel(self, row: Row) -> None:
        """Abort ``row`` now (from any thread): its task is cancelled, which closes vLLM's generator."""
        row.cancelled = True
        self._thread.loop.call_soon_threadsafe(self._cancel_task, id(row))

    def counters(self) -> dict[str, int]:
        return {
            "tokens_generated": self.counters_.tokens_generated,
            "rows_ended_early": self.counters_.rows_ended_early,
        }

    def generate(
        self,
        batch: list[tuple[GenerationRequest, list[int]]],
        on_text: TokenCallback | None = None,
    ) -> list[GenerationResult]:
        """The whole-batch call of the Engine protocol, served through the same rows."""
        futures: list[Future[GenerationResult]] = []
        for i, (request, ids) in enumerate(batch):
            future: Future[GenerationResult] = Future()
            futures.append(future)
            row = Row(request, ids, _answer(future), on_text if i == 0 else None)
            row.on_error = lambda _row, error, f=future: f.set_exception(error)
            self.submit(row)
        return [f.result() for f in futures]

    def close(self) -> None:
        engine, self.engine = self.engine, None
        shutdown = getattr(engine, "shutdown", None)
        if shutdown is not None:
            self._thread.loop.call_soon_threadsafe(shutdown)
        self._thread.stop()

    # ------------------------------------------------------------ on the engine's loop
    def _start_row(self, row: Row) -> None:
        try:
            self._start(row)
        except Exception as exc:  # on this loop an exception would only be logged: the caller hears it
            row.fail(exc)

    def _start(self, row: Row) -> None:
        request = row.request
        params = self.vllm.SamplingParams(
            **sampling_options(request), **structured_options(self.vllm, request)
        )
        request_id = f"{request.request_id or 'req'}-{uuid.uuid4().hex[:8]}"  # unique inside vLLM
        lora = self.adapters.request(request.adapter)
        outputs = self.engine.generate(
            {"prompt_token_ids": row.ids}, params, request_id, **({"lora_request": lora} if lora else {})
        )
        task = asyncio.ensure_future(serve_row(row, outputs, self.counters_))
        self._tasks[id(row)] = task
        task.add_done_callback(lambda _t: self._tasks.pop(id(row), None))
        if row.deadline is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(max(0.0, row.deadline - time.monotonic()), task.cancel)
        if row.cancelled:
            task.cancel()

    def _engine_call(self, method: str, *args: Any) -> Any:
        """Call one of the engine's methods from any thread but its loop's (coroutine or not)."""

        async def call() -> Any:
            result = getattr(self.engine, method)(*args)
            return await result if inspect.isawaitable(result) else result

        return self._thread.run(call())

    def _cancel_task(self, key: int) -> None:
        task = self._tasks.get(key)
        if task is not None:
            task.cancel()


def _answer(future: Future[GenerationResult]) -> Callable[[Row, GenerationResult], None]:
    return lambda _row, result: future.set_result(result)


async def _start(vllm: Any, args: Any) -> Any:
    # built on the engine's own loop: AsyncLLM starts its output handler on the running loop
    return vllm.AsyncLLMEngine.from_engine_args(args)


async def _tokenizer(engine: Any) -> Any:
    tokenizer = engine.get_tokenizer()  # a coroutine in some vLLM versions, a plain call in others
    return await tokenizer if inspect.isawaitable(tokenizer) else tokenizer


def _allow_engine_processes() -> None:
    """Dask's Nanny starts worker processes as daemons, and a daemon may not start children,
    which vLLM's asynchronous engine always does (its engine core runs in a process of its own,
    plus one per extra GPU). So this worker stops calling itself a daemon: its Nanny still ends
    it, and vLLM ends its own children when their parent dies."""
    current = multiprocessing.current_process()
    if current.daemon:
        current.daemon = False
