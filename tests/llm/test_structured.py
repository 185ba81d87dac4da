"""Structured output on the tiny model: the answer always parses and matches its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pycluster.errors import InferenceRequestError
from pycluster.llm.constrained import JSON_OBJECT, check_schema, tool_call_schema
from pycluster.llm.engines import GenerationRequest
from pycluster.llm.engines.transformers_engine import TransformersEngine
from pycluster.llm.spec import ModelSpec

# Not here, as lm-format-enforcer 0.11 does not enforce them: "integer" (it lets an exponent
# through, so 5E999 parses as inf), minimum/maximum, and maxItems 0.
_LEAVES = st.one_of(
    st.just({"type": "boolean"}),
    st.just({"type": "number"}),
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(1, 8)),
    st.builds(
        lambda xs: {"enum": xs},
        st.lists(st.sampled_from(["red", "green", "blue"]), min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda n: {"type": "array", "items": {"type": "boolean"}, "maxItems": n}, st.integers(1, 3)),
    st.just({"type": "null"}),
)
_NAMES = st.sampled_from(["id", "name", "ok", "size", "tags", "color"])


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    """Objects of 1 to 3 fields (some required), a nested object now and then."""
    props = draw(st.dictionaries(_NAMES, _LEAVES, min_size=1, max_size=3))
    if draw(st.booleans()):
        props["inner"] = {"type": "object", "properties": {"v": draw(_LEAVES)}, "required": ["v"]}
    required = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
    return {"type": "object", "properties": props, "required": required}


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> TransformersEngine:
    spec = ModelSpec(
        str(tiny_model), precision="fp32", gpu_per_replica=0, batch_size=4, max_sequence_length=128
    )
    return TransformersEngine(spec, str(tiny_model))


def _answer(engine: TransformersEngine, schema: dict[str, Any], **options: Any) -> Any:
    request = GenerationRequest(prompt="the quick brown fox", max_tokens=90, json_schema=schema, **options)
    result = engine.generate([(request, engine.prompt_ids(request))])[0]
    assert result.finish_reason == "stop", result.text
    try:
        return json.loads(result.text)
    except ValueError:
        raise AssertionError(f"{result.text!r} for {schema}") from None


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a shrink reruns the model hundreds of times
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(schema=schemas(), temperature=st.sampled_from([0.0, 0.9]), seed=st.integers(0, 1000))
def test_the_answer_always_matches_the_schema(
    engine: TransformersEngine, schema: dict[str, Any], temperature: float, seed: int
) -> None:
    value = _answer(engine, schema, temperature=temperature, seed=seed)
    jsonschema.validate(value, schema)


def test_json_object_and_tool_calls_parse(engine: TransformersEngine) -> None:
    assert isinstance(_answer(engine, JSON_OBJECT), dict)
    tools = [("get_weather", {"type": "object", "properties": {"city": {"enum": ["Oslo", "Rome"]}}})]
    call = _answer(engine, tool_call_schema(tools))
    assert call["name"] == "get_weather" and call["arguments"].get("city", "Oslo") in ("Oslo", "Rome")


def test_constrained_and_free_rows_share_a_batch(engine: TransformersEngine) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    free = GenerationRequest(prompt="the quick brown fox", max_tokens=12)
    alone = engine.generate([(free, engine.prompt_ids(free))])[0].text
    shaped = GenerationRequest(prompt="the quick brown fox", max_tokens=40, json_schema=schema)
    both = engine.generate([(free, engine.prompt_ids(free)), (shaped, engine.prompt_ids(shaped))])
    assert both[0].text == alone  # the free row is not constrained by its neighbour
    assert isinstance(json.loads(both[1].text)["ok"], bool)


def test_a_schema_that_is_not_json_schema_is_refused_naming_the_field() -> None:
    with pytest.raises(InferenceRequestError, match=r"response_format\.schema is not a valid JSON Schema"):
        check_schema({"type": "integr"}, "response_format.schema")
    with pytest.raises(InferenceRequestError, match="tools"):
        check_schema({"properties": {"a": {"minimum": "zero"}}}, "tools[0].function.parameters")
