"""ModelReplica: one loaded model on one worker, as a Dask actor.

Its request methods are coroutines, so they run on the worker's event loop and many can
wait at once; the model itself runs on the batcher's thread. An engine that batches
continuously (``serve``) takes new requests between decode steps and answers each one as
soon as it is finished; other engines run one whole batch per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from ..errors import InferenceRequestError
from .batching import Admit, BatchItem, DynamicBatcher
from .engines import GenerationRequest, GenerationResult, load_engine
from .engines.decode import Row
from .models import resolve_model
from .spec import ModelSpec

__all__ = ["ModelReplica"]

_SWITCH_INTERVAL = 0.0005  # seconds; see ModelReplica.__init__


class _Stream:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.changed = threading.Event()


@dataclass
class _Pending:
    """A request on its way to a row: what the batcher carries, and when its time is up."""

    request: GenerationRequest
    ids: list[int]
    stream: _Stream | None
    deadline: float | None  # time.monotonic(); from the request's timeout, counted from arrival here


class ModelReplica:
    """Created with ``client.submit(ModelReplica, spec, actor=True, workers=[...])``."""

    def __init__(self, spec: dict[str, Any], cache_dir: str | None = None, on_gpu: bool = False) -> None:
        self.spec = ModelSpec.from_dict(spec)
        # The batcher thread holds the GIL through each decode step's Python; the worker's
        # event loop, which accepts connections and passes requests in and results out,
        # waits up to the switch interval (5 ms) for each turn. A burst of 32 new callers
        # then took ~250 ms to connect; at 0.5 ms it takes what it should (benchmarks/llm_serving.py).
        sys.setswitchinterval(min(sys.getswitchinterval(), _SWITCH_INTERVAL))
        path = resolve_model(self.spec.model_path or self.spec.model_name, cache_dir)
        started = time.monotonic()
        self.engine = load_engine(self.spec, path, on_gpu)
        self.load_seconds = time.monotonic() - started
        self.continuous = bool(getattr(self.engine, "continuous", False))
        self.serves_rows = callable(getattr(self.engine, "submit", None))
        self.batcher = DynamicBatcher(self._run_batch, self.spec.batch_size)
        self._streams: dict[str, _Stream] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._live: dict[str, Row | None] = {}  # request id -> its row once it has one
        self._cancelled: set[str] = set()  # cancelled while still queued
        self.cancelled = 0

    # ---------------------------------------------------------------- requests
    async def generate(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request; it joins whatever forward batch is forming."""
        return await asyncio.wrap_future(self._submit(self._pending(request, None)))

    async def start_stream(self, request: dict[str, Any]) -> str:
        """Start one streamed request; read it with ``read_stream``, end it early with ``cancel``."""
        pending = self._pending(request, _Stream())
        stream_id = pending.request.request_id or f"stream-{next(self._ids)}"
        pending.request.request_id = stream_id
        stream = pending.stream
        assert stream is not None
        self._streams[stream_id] = stream
        self._submit(pending).add_done_callback(lambda f: self._end_stream(stream, f))
        return stream_id

    async def cancel(self, request_id: str) -> bool:
        """End request ``request_id`` at its next decode step (its caller went away); False when it
        is not running here (finished already)."""
        self._streams.pop(request_id, None)
        with self._lock:
            if request_id not in self._live:
                return False
            row = self._live[request_id]
            if row is None:  # still queued: the row is born cancelled
                self._cancelled.add(request_id)
        if row is not None:
            self._cancel_row(row)
        return True

    async def read_stream(self, stream_id: str, wait: float = 1.0) -> dict[str, Any]:
        """Text produced since the last read; ``done`` and the final ``result`` at the end."""
        stream = self._streams[stream_id]
        if not stream.pieces and stream.result is None and stream.error is None:
            await asyncio.get_running_loop().run_in_executor(None, stream.changed.wait, wait)
        stream.changed.clear()
        pieces, stream.pieces = stream.pieces, []
        if stream.error is not None:
            self._streams.pop(stream_id, None)
            raise stream.error
        done = stream.result is not None and not stream.pieces
        if done:
            self._streams.pop(stream_id, None)
        return {"text": "".join(pieces), "done": done, "result": stream.result if done else None}

    def _pending(self, request: dict[str, Any], stream: _Stream | None) -> _Pending:
        req = GenerationRequest(**request)
        ids = self.engine.prompt_ids(req)  # bad requests fail here, before they queue
        deadline = None if req.timeout is None else time.monotonic() + req.timeout
        return _Pending(req, ids, stream, deadline)

    def _submit(self, pending: _Pending) -> Future[Any]:
        request_id = pending.request.request_id
        if request_id is not None:
            with self._lock:
                self._live[request_id] = None
        if self.serves_rows:  # the engine batches by itself (vLLM): each row goes straight in
            future: Future[Any] = Future()
            self.engine.submit(self._make_row(pending, future))  # type: ignore[attr-defined]
        else:
            # a whole-batch engine streams only a batch's first row, so a stream runs alone there
            alone = pending.stream is not None and not self.continuous
            future = self.batcher.submit(pending.request.batch_key, pending, alone=alone)
        if request_id is not None:
            future.add_done_callback(lambda _f: self._forget(request_id))
        return future

    def _forget(self, request_id: str) -> None:
        with self._lock:
            self._live.pop(request_id, None)
            self._cancelled.discard(request_id)

    def _cancel_row(self, row: Row) -> None:
        row.cancelled = True  # the decode loop lets it go before its next step
        self.cancelled += 1
        engine_cancel = getattr(self.engine, "cancel", None)
        if engine_cancel is not None:  # vLLM: abort it inside the engine at once
            engine_cancel(row)

    async def load_adapter(self, name: str, path: str) -> None:
        """Load a LoRA adapter between batches (on the batcher's thread, as the model runs there)."""
        if not hasattr(self.engine, "load_adapter"):
            raise InferenceRequestError(f"adapters: the {self.engine.name} engine cannot load LoRA adapters")
        future = self.batcher.submit(("adapter", name), ("load_adapter", name, path), alone=True)
        await asyncio.wrap_future(future)

    async def unload_adapter(self, name: str) -> None:
        if not hasattr(self.engine, "unload_adapter"):
            raise InferenceRequestError(f"adapters: the {self.engine.name} engine has no LoRA adapters")
        future = self.batcher.submit(("adapter", name), ("unload_adapter", name), alone=True)
        await asyncio.wrap_future(future)

    async def stats(self) -> dict[str, Any]:
        return {
            **self.batcher.stats(),
            "load_seconds": self.load_seconds,
            "device": self.engine.device,
            "engine": self.engine.name,
            "context_length": self.engine.context_length,
            "cancelled": self.cancelled,
            **getattr(self.engine, "counters", dict)(),
        }

    async def where(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "hostname": socket.gethostname()}

    def close(self) -> None:
        self.batcher.close()
        self.engine.close()

    # ---------------------------------------------------------------- batches
    def _run_batch(self, items: list[BatchItem], admit: Admit) -> None:
        if isinstance(items[0].payload, tuple):  # an adapter to load or unload: a batch of its own
            method, *args = items[0].payload
            getattr(self.engine, method)(*args)
            _answer(items[0].future, {})
            return
        if self.continuous:
            self.engine.serve(  # type: ignore[attr-defined]
                [self._row(item) for item in items], lambda n: [self._row(item) for item in admit(n)]
            )
        else:
            self._run_whole(items)

    def _row(self, item: BatchItem) -> Row:
        return self._make_row(item.payload, item.future)

    def _make_row(self, pending: _Pending, future: Future[Any]) -> Row:
        started = time.monotonic()

        def on_result(row: Row, result: GenerationResult) -> None:
            self.batcher.observe(row.batch_size)
            engine_ms = (time.monotonic() - started) * 1000
            _answer(future, {**result.as_dict(), "batch_size": row.batch_size, "engine_ms": engine_ms})

        stream = pending.stream
        row = Row(pending.request, pending.ids, on_result, _stream_writer(stream) if stream else None)
        row.deadline = pending.deadline
        row.on_error = lambda _row, error: _fail(future, error)
        if self._register(row):
            self._cancel_row(row)
        return row

    def _register(self, row: Row) -> bool:
        """Make ``row`` the one ``cancel`` reaches; True when it was cancelled while still queued."""
        request_id = row.request.request_id
        if request_id is None:
            return False
        with self._lock:
            if request_id in self._live:
                self._live[request_id] = row
            return request_id in self._cancelled

    def _run_whole(self, items: list[BatchItem]) -> None:
        serve_whole = getattr(self.engine, "serve_whole", None)
        if serve_whole is not None:  # rows, so that ``cancel`` and deadlines reach them mid-batch
            serve_whole([self._row(item) for item in items])
            return
        stream = items[0].payload.stream
        on_text = _stream_writer(stream) if stream is not None else None
        started = time.monotonic()
        results = self.engine.generate([(item.payload.request, item.payload.ids) for item in items], on_text)
        elapsed = time.monotonic() - started
        for item, result in zip(items, results):
            _answer(item.future, {**result.as_dict(), "batch_size": len(items), "engine_ms": elapsed * 1000})

    @staticmethod
    def _end_stream(stream: _Stream, future: Any) -> None:
        if future.exception() is not None:
            stream.error = future.exception()
        else:
            stream.result = future.result()
        stream.changed.set()


def _stream_writer(stream: _Stream) -> Callable[[str], None]:
    def on_text(text: str) -> None:
        stream.pieces.append(text)
        stream.changed.set()

    return on_text


def _fail(future: Future[Any], error: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):  # its caller gave up already
        future.set_exception(error)


def _answer(future: Future[Any], result: dict[str, Any]) -> None:
    # a caller that gave up cancelled its future; the rows sharing its batch must not fail for it
    with contextlib.suppress(InvalidStateError):
        future.set_result(result)
