"""Cancellation: a caller that goes away, or a request past its deadline, frees its row at the
next decode step; the other rows of the batch keep exactly the text they get alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycluster import HeadNode, LLMClusterManager
from pycluster.llm.engines import GenerationRequest, GenerationResult
from pycluster.llm.engines.decode import Row, plain_generation_config
from pycluster.llm.engines.transformers_engine import TransformersEngine
from pycluster.llm.spec import ModelSpec
from tests.helpers import wait_for

from .tiny_model import CONTEXT, build_tiny_model

# prompts the tiny model continues for many tokens (no early EOS), so there is something to cut
VICTIM, OTHERS = "the quick brown fox", ["def add(a, b):", "the lazy dog"]


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> TransformersEngine:
    spec = ModelSpec(
        str(tiny_model), gpu_per_replica=0, precision="fp32", max_sequence_length=CONTEXT, batch_size=8
    )
    return TransformersEngine(spec, str(tiny_model))


def _row(
    engine: TransformersEngine, prompt: str, max_tokens: int, results: dict[str, GenerationResult]
) -> Row:
    request = GenerationRequest(prompt, max_tokens=max_tokens)

    def keep(_row: Row, result: GenerationResult) -> None:
        results[prompt] = result

    return Row(request, engine.prompt_ids(request), keep)


def _alone(engine: TransformersEngine, prompt: str, max_tokens: int) -> GenerationResult:
    request = GenerationRequest(prompt, max_tokens=max_tokens)
    return engine.generate([(request, engine.prompt_ids(request))])[0]


def test_a_cancelled_row_stops_and_the_others_keep_their_text(engine: TransformersEngine) -> None:
    alone = {p: _alone(engine, p, 16) for p in [VICTIM, *OTHERS]}
    assert alone[VICTIM].tokens_generated == 16  # it would run to max_tokens
    results: dict[str, GenerationResult] = {}
    rows = [_row(engine, p, 16, results) for p in [VICTIM, *OTHERS]]
    victim, at_cancel = rows[0], []

    def on_text(_text: str) -> None:  # the caller goes away after its first pieces
        if len(victim.tokens) >= 3 and not victim.cancelled:
            victim.cancelled = True
            at_cancel.append(len(victim.tokens))

    victim.on_text = on_text
    before = engine.counters()
    engine.serve(rows, lambda n: [])
    after = engine.counters()
    assert results[VICTIM].finish_reason == "cancelled"
    assert len(victim.tokens) == at_cancel[0] < 16  # not one token more after the cancel
    assert after["rows_ended_early"] == before["rows_ended_early"] + 1
    made = after["tokens_generated"] - before["tokens_generated"]
    assert made == at_cancel[0] + sum(len(r.tokens) for r in rows[1:])
    for prompt in OTHERS:  # greedy: the same text as a solo run
        assert results[prompt].text == alone[prompt].text
        assert results[prompt].finish_reason == alone[prompt].finish_reason


def test_a_row_past_its_deadline_ends_with_timeout(engine: TransformersEngine) -> None:
    alone = _alone(engine, OTHERS[0], 12)
    results: dict[str, GenerationResult] = {}
    overdue, other = _row(engine, VICTIM, 12, results), _row(engine, OTHERS[0], 12, results)
    overdue.deadline = time.monotonic() - 1
    engine.serve([overdue, other], lambda n: [])
    assert results[VICTIM].finish_reason == "timeout" and results[VICTIM].tokens_generated == 0
    assert results[OTHERS[0]].text == alone.text


def _counters(llm: LLMClusterManager, deployment: str) -> dict[str, Any]:
    return llm.replica_stats(deployment)[0]


def _close_after_first_piece(head: HeadNode, path: str, body: dict[str, Any]) -> None:
    with (
        httpx.Client(base_url=head.dashboard_url or "", timeout=60) as client,
        client.stream("POST", path, json=body) as response,
    ):
        assert response.status_code == 200, response.read()
        next(line for line in response.iter_lines() if line.startswith("data: "))
    # leaving the blocks closes the connection mid-stream


ASKS: dict[str, Callable[[str], tuple[str, dict[str, Any]]]] = {
    "rest-sse": lambda dep: (
        f"/api/llm/models/{dep}/inference",
        {"prompt": VICTIM, "max_tokens": 100, "stream": True},
    ),
    "openai-stream": lambda dep: (
        "/v1/completions",
        {"model": dep, "prompt": VICTIM, "max_tokens": 100, "temperature": 0, "stream": True},
    ),
}


@pytest.mark.parametrize("ask", list(ASKS))
def test_a_client_that_closes_its_stream_frees_its_row(
    llm_head: HeadNode, llm: LLMClusterManager, deployment: str, ask: str
) -> None:
    before = _counters(llm, deployment)
    _close_after_first_piece(llm_head, *ASKS[ask](deployment))
    wait_for(
        lambda: _counters(llm, deployment)["rows_ended_early"] > before["rows_ended_early"],
        30,
        what="the replica to let the row go",
    )
    stopped = _counters(llm, deployment)["tokens_generated"]
    time.sleep(0.5)  # a row still running would add a token every few ms
    assert _counters(llm, deployment)["tokens_generated"] == stopped
    assert stopped - before["tokens_generated"] < 100
    assert _counters(llm, deployment)["cancelled"] == before["cancelled"] + 1


def test_a_request_past_llm_request_timeout_ends_on_its_replica(llm_head: HeadNode, deployment: str) -> None:
    hasty = LLMClusterManager(llm_head.cluster_manager, request_timeout=0.05)  # the same deployments
    before = _counters(hasty, deployment)["rows_ended_early"]
    answer = hasty.inference(deployment, VICTIM, max_tokens=100)
    assert answer["finish_reason"] == "timeout" and answer["tokens_generated"] < 100
    assert _counters(hasty, deployment)["rows_ended_early"] == before + 1


# --------------------------------------------------------------- answers sent whole
LONG = 1500  # tokens: seconds of decoding for the tiny model, so a disconnect lands mid-answer


@pytest.fixture(scope="module")
def long_deployment(llm: LLMClusterManager, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = build_tiny_model(tmp_path_factory.mktemp("long-model"), context=2048)
    return llm.deploy_model(str(folder), gpu_per_replica=0, batch_size=8, max_sequence_length=2048)


UNARY: dict[str, Callable[[str], tuple[str, dict[str, Any]]]] = {
    "rest": lambda dep: (f"/api/llm/models/{dep}/inference", {"prompt": VICTIM, "max_tokens": LONG}),
    "completions": lambda dep: (
        "/v1/completions",
        {"model": dep, "prompt": VICTIM, "max_tokens": LONG, "temperature": 0},
    ),
    "chat": lambda dep: (
        "/v1/chat/completions",
        {
            "model": dep,
            "messages": [{"role": "user", "content": VICTIM}],
            "max_tokens": LONG,
            "temperature": 0,
        },
    ),
}


@pytest.mark.parametrize("ask", list(UNARY))
def test_a_client_that_disconnects_before_its_whole_answer_frees_its_row(
    llm_head: HeadNode, llm: LLMClusterManager, long_deployment: str, ask: str
) -> None:
    alone = llm.generate(long_deployment, OTHERS[0], max_tokens=300)
    before = _counters(llm, long_deployment)
    with ThreadPoolExecutor(1) as pool:  # another row of the same batch, which must not notice
        other = pool.submit(llm.generate, long_deployment, OTHERS[0], max_tokens=300)
        path, body = UNARY[ask](long_deployment)
        with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
            httpx.post(f"{llm_head.dashboard_url}{path}", json=body, timeout=httpx.Timeout(60, read=0.5))
        wait_for(
            lambda: _counters(llm, long_deployment)["rows_ended_early"] > before["rows_ended_early"],
            30,
            what="the replica to let the row go",
        )
        stopped = _counters(llm, long_deployment)["tokens_generated"]
        assert other.result(60).text == alone.text
    time.sleep(0.5)  # a row still running would add a token every few ms
    after = _counters(llm, long_deployment)
    assert after["tokens_generated"] - stopped <= 300  # the other row's tail at most
    assert after["tokens_generated"] - before["tokens_generated"] < LONG
    assert after["cancelled"] == before["cancelled"] + 1


# --------------------------------------------------------------- batches run by model.generate
@pytest.fixture(scope="module")
def whole_engine(tiny_model: Path) -> TransformersEngine:
    """A model whose generation config (a repetition penalty) the decode loop cannot follow, so
    its batches run through one ``model.generate`` call each."""
    spec = ModelSpec(
        str(tiny_model), gpu_per_replica=0, precision="fp32", max_sequence_length=CONTEXT, batch_size=8
    )
    engine = TransformersEngine(spec, str(tiny_model))
    engine.model.generation_config.repetition_penalty = 1.3
    engine.continuous = plain_generation_config(engine.model)  # what __init__ decides for such a model
    assert not engine.continuous
    return engine


def test_a_batch_run_by_generate_lets_a_cancelled_row_go(whole_engine: TransformersEngine) -> None:
    alone = {p: _alone(whole_engine, p, 16) for p in [VICTIM, *OTHERS]}
    assert alone[VICTIM].tokens_generated == 16
    results: dict[str, GenerationResult] = {}
    rows = [_row(whole_engine, p, 16, results) for p in [VICTIM, *OTHERS]]
    victim, at_cancel = rows[0], []

    def on_text(_text: str) -> None:
        if len(victim.tokens) >= 3 and not victim.cancelled:
            victim.cancelled = True
            at_cancel.append(len(victim.tokens))

    victim.on_text = on_text
    overdue = _row(whole_engine, "the lazy", 16, results)
    overdue.deadline = time.monotonic() - 1
    before = whole_engine.counters()
    whole_engine.serve_whole([*rows, overdue])
    after = whole_engine.counters()
    assert results[VICTIM].finish_reason == "cancelled"
    assert len(victim.tokens) == at_cancel[0] < 16 and results[VICTIM].tokens_generated == at_cancel[0]
    assert results["the lazy"].finish_reason == "timeout" and results["the lazy"].tokens_generated == 0
    assert after["rows_ended_early"] == before["rows_ended_early"] + 2
    made = after["tokens_generated"] - before["tokens_generated"]
    assert made == at_cancel[0] + sum(len(r.tokens) for r in rows[1:])
    for prompt in OTHERS:  # the penalty applied, and the cancel changed nothing for them
        assert results[prompt].text == alone[prompt].text
        assert results[prompt].finish_reason == alone[prompt].finish_reason
