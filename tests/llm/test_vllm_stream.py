"""The vLLM engine's stream adapter, fed objects shaped like vLLM's ``RequestOutput`` (vLLM itself
needs a GPU: tests/llm_gpu/test_gpu_streaming.py runs the real engine where one is)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from pycluster.llm.engines import GenerationRequest, GenerationResult
from pycluster.llm.engines.decode import Row
from pycluster.llm.engines.vllm_stream import StreamCounters, apply_output, serve_row


@dataclass
class CompletionOutput:  # vllm.outputs.CompletionOutput's fields that we read
    text: str
    token_ids: list[int]
    finish_reason: str | None = None


@dataclass
class RequestOutput:  # vllm.outputs.RequestOutput (cumulative, vLLM's default output kind)
    outputs: list[CompletionOutput]
    finished: bool = False


@dataclass
class Served:
    pieces: list[str] = field(default_factory=list)
    results: list[GenerationResult] = field(default_factory=list)

    def row(self, stop: list[str] | None = None) -> Row:
        request = GenerationRequest("p", max_tokens=16, stop=stop or [])
        return Row(request, [1, 2], lambda _r, result: self.results.append(result), self.pieces.append)


def _outputs(texts: list[str], final: str | None, reason: str = "stop") -> list[RequestOutput]:
    steps = [RequestOutput([CompletionOutput(t, list(range(i + 1)))]) for i, t in enumerate(texts)]
    if final is not None:
        steps.append(RequestOutput([CompletionOutput(final, list(range(len(texts) + 1)), reason)], True))
    return steps


def test_cumulative_outputs_stream_as_pieces_and_end_in_one_result() -> None:
    served = Served()
    row = served.row(stop=["world"])
    results = [apply_output(row, o) for o in _outputs(["Hel", "Hello w", "Hello wor"], "Hello ")]
    assert results[:3] == [None, None, None]
    # a tail that may still become the stop sequence is held back, so nothing is ever taken back
    assert "".join(served.pieces) == "Hello " and all("w" not in p for p in served.pieces)
    assert results[3] == GenerationResult("Hello ", 4, 2, "stop")


class _Engine:
    """Yields outputs like AsyncLLM.generate, one per engine step; records being closed (= abort)."""

    def __init__(self, steps: list[RequestOutput], then_wait: bool = False) -> None:
        self.steps, self.then_wait, self.aborted, self.yielded = steps, then_wait, False, 0

    async def generate(self) -> AsyncGenerator[RequestOutput, None]:
        try:
            for step in self.steps:
                self.yielded += 1
                yield step
                await asyncio.sleep(0)
            if self.then_wait:
                await asyncio.sleep(3600)
        except GeneratorExit:  # the consumer closed it before the end: vLLM aborts the request here
            self.aborted = True
            raise
        except asyncio.CancelledError:
            self.aborted = True
            raise


def test_a_finished_request_gives_its_result_once() -> None:
    served, counters = Served(), StreamCounters()
    engine = _Engine(_outputs(["a", "ab"], "abc", "length"))
    asyncio.run(serve_row(served.row(), engine.generate(), counters))
    assert served.results == [GenerationResult("abc", 3, 2, "length")]
    assert "".join(served.pieces) == "abc" and counters.tokens_generated == 3 and not engine.aborted


def test_a_cancelled_row_stops_at_its_next_output_and_aborts_in_vllm() -> None:
    served, counters = Served(), StreamCounters()
    row = served.row()
    texts = ["".join(f"w{j} " for j in range(i + 1)) for i in range(10)]  # cumulative, as vLLM's
    steps = _outputs(texts, texts[-1] + "end")

    def cancel_after_two(text: str) -> None:
        served.pieces.append(text)
        if len(served.pieces) == 2:
            row.cancelled = True

    row.on_text = cancel_after_two
    engine = _Engine(steps)
    asyncio.run(serve_row(row, engine.generate(), counters))
    assert engine.aborted and engine.yielded == 3  # the step after the cancel is the last one read
    assert [r.finish_reason for r in served.results] == ["cancelled"]
    assert counters.rows_ended_early == 1


def test_a_request_waiting_in_vllm_past_its_deadline_is_aborted() -> None:
    served, counters = Served(), StreamCounters()
    row = served.row()
    row.deadline = time.monotonic() + 0.2
    engine = _Engine(_outputs(["x"], None), then_wait=True)

    async def main() -> None:  # what VLLMEngine._start_row does: a timer cancels the row's task
        task = asyncio.ensure_future(serve_row(row, engine.generate(), counters))
        asyncio.get_running_loop().call_later(0.2, task.cancel)
        await task

    asyncio.run(main())
    assert engine.aborted
    assert [(r.finish_reason, r.text) for r in served.results] == [("timeout", "x")]


def test_a_request_vllm_fails_reaches_its_caller_as_the_error() -> None:
    """An exception from vLLM's generator ends the row through ``on_error`` (on the engine's own
    loop it would otherwise only be logged, and the caller would wait for its timeout)."""
    served, counters = Served(), StreamCounters()
    errors: list[BaseException] = []
    row = served.row()
    row.on_error = lambda _row, error: errors.append(error)

    async def failing() -> AsyncGenerator[RequestOutput, None]:
        yield RequestOutput([CompletionOutput("a", [0])])
        raise ValueError("the structured output backend cannot follow this schema")

    asyncio.run(serve_row(row, failing(), counters))
    assert [str(e) for e in errors] == ["the structured output backend cannot follow this schema"]
    assert served.results == []  # one ending only: the error
    bare = Served().row()  # a row without an error handler: the error is raised, not swallowed
    try:
        asyncio.run(serve_row(bare, failing(), counters))
    except ValueError:
        pass
    else:
        raise AssertionError("the error was swallowed")
