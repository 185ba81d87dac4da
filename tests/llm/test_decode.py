"""The continuous-batching decode loop, in-process on the tiny model: same text as generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pycluster.llm.engines import GenerationRequest, GenerationResult
from pycluster.llm.engines.decode import Row, plain_generation_config
from pycluster.llm.engines.transformers_engine import TransformersEngine
from pycluster.llm.spec import ModelSpec

PROMPTS = [f"the quick brown fox {i} " * (1 + i % 3) for i in range(6)]


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> TransformersEngine:
    spec = ModelSpec(
        str(tiny_model), precision="fp32", gpu_per_replica=0, batch_size=4, max_sequence_length=128
    )
    return TransformersEngine(spec, str(tiny_model))


def _direct(engine: TransformersEngine, prompt: str, max_tokens: int, **options: Any) -> str:
    import torch

    ids = engine.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = engine.model.generate(
            ids,
            max_new_tokens=max_tokens,
            do_sample=False,
            pad_token_id=engine.tokenizer.pad_token_id,
            **options,
        )
    return str(engine.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def _rows(engine: TransformersEngine, requests: list[GenerationRequest], done: list[Any]) -> list[Row]:
    def on_result(row: Row, result: GenerationResult) -> None:
        done.append((row.request.prompt, result))

    return [Row(r, engine.prompt_ids(r), on_result) for r in requests]


def test_a_padded_batch_with_mixed_lengths_is_greedy_exact(engine: TransformersEngine) -> None:
    requests = [GenerationRequest(p, max_tokens=4 + 3 * i) for i, p in enumerate(PROMPTS[:4])]
    results = engine.generate([(r, engine.prompt_ids(r)) for r in requests])
    assert [res.text for res in results] == [_direct(engine, r.prompt or "", r.max_tokens) for r in requests]
    assert [res.tokens_generated for res in results] == [r.max_tokens for r in requests]


def test_rows_join_a_running_batch_and_leave_when_done(engine: TransformersEngine) -> None:
    requests = [GenerationRequest(p, max_tokens=20 if i % 2 else 3) for i, p in enumerate(PROMPTS)]
    done: list[Any] = []
    rows = _rows(engine, requests, done)
    later = rows[1:]

    def admit(n: int) -> list[Row]:  # one newcomer per step, as if they kept arriving
        return [later.pop(0)] if later and n > 0 else []

    engine.serve(rows[:1], admit)
    texts = {prompt: result.text for prompt, result in done}
    assert texts == {r.prompt: _direct(engine, r.prompt or "", r.max_tokens) for r in requests}
    assert max(row.batch_size for row in rows) > 1  # they did share forward steps
    assert max(row.batch_size for row in rows) <= engine.spec.batch_size
    short = [i for i, (prompt, _) in enumerate(done) if prompt in {r.prompt for r in requests[::2]}]
    assert short[0] == 0  # a 3-token request is answered before the 20-token ones


def test_seeded_sampling_does_not_depend_on_the_batch(engine: TransformersEngine) -> None:
    sampled = GenerationRequest("the quick", max_tokens=10, temperature=0.8, top_p=0.9, seed=7)
    greedy = GenerationRequest(PROMPTS[1], max_tokens=10)
    alone = engine.generate([(sampled, engine.prompt_ids(sampled))])[0].text
    together = engine.generate([(greedy, engine.prompt_ids(greedy)), (sampled, engine.prompt_ids(sampled))])
    assert together[1].text == alone


def test_each_streamed_row_gets_its_own_text(engine: TransformersEngine) -> None:
    plain = GenerationRequest(PROMPTS[0], max_tokens=12)
    full = engine.generate([(plain, engine.prompt_ids(plain))])
    stop = full[0].text[3:5]
    requests = [
        GenerationRequest(PROMPTS[0], max_tokens=12, stop=[stop]),
        GenerationRequest(PROMPTS[2], max_tokens=9),
    ]
    done: list[Any] = []
    rows = _rows(engine, requests, done)
    pieces: list[list[str]] = [[], []]
    for row, sink in zip(rows, pieces):
        row.on_text = sink.append
    engine.serve(rows, lambda n: [])
    results = dict(done)
    for request, sink in zip(requests, pieces):
        assert "".join(sink) == results[request.prompt].text
    assert results[PROMPTS[0]].text == full[0].text[: full[0].text.index(stop)]
    assert results[PROMPTS[0]].finish_reason == "stop"


def test_a_generation_config_that_changes_tokens_falls_back_to_generate(tiny_model: Path) -> None:
    spec = ModelSpec(str(tiny_model), precision="fp32", gpu_per_replica=0, max_sequence_length=128)
    engine = TransformersEngine(spec, str(tiny_model))
    engine.model.generation_config.repetition_penalty = 1.5
    engine.continuous = plain_generation_config(engine.model)  # what __init__ decides for such a model
    assert not engine.continuous
    request = GenerationRequest(PROMPTS[0], max_tokens=10)
    text = engine.generate([(request, engine.prompt_ids(request))])[0].text
    assert text == _direct(engine, PROMPTS[0], 10)  # generate applies the penalty; so do we


def test_plain_generation_config_sees_what_changes_greedy_tokens(engine: TransformersEngine) -> None:
    assert plain_generation_config(engine.model)
    engine.model.generation_config.no_repeat_ngram_size = 3
    try:
        assert not plain_generation_config(engine.model)
    finally:
        engine.model.generation_config.no_repeat_ngram_size = None
