"""/v1 over a real head: LoRA adapters per request, structured output, tools, prefix reuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jsonschema
import pytest

from pycluster import HeadNode, LLMClusterManager
from tests.helpers import running_head

from .tiny_model import build_tiny_adapter, build_tiny_model

PROMPT = "the quick brown fox"
CONTEXT = 512


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("llm-gen-test", tmp_path_factory.mktemp("llm-gen-state")) as node:
        yield node


@pytest.fixture(scope="module")
def api(head: HeadNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=head.dashboard_url or "", timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a context of 512: a tools prompt (the functions' JSON, byte by byte) outgrows 128 tokens
    return build_tiny_model(tmp_path_factory.mktemp("tiny-512"), context=CONTEXT)


@pytest.fixture(scope="module")
def deployed(head: HeadNode, model: Path) -> str:
    llm = LLMClusterManager(head.cluster_manager)
    return llm.deploy_model(str(model), gpu_per_replica=0, batch_size=8, max_sequence_length=CONTEXT)


@pytest.fixture(scope="module")
def adapters(model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("adapters")
    return {
        "one": build_tiny_adapter(model, folder / "one", seed=1),
        "two": build_tiny_adapter(model, folder / "two", seed=2),
    }


def _complete(api: httpx.Client, model: str, max_tokens: int = 10) -> str:
    body = {"model": model, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0}
    answer = api.post("/v1/completions", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["choices"][0]["text"])


def test_adapters_per_request_share_batches(
    api: httpx.Client, deployed: str, adapters: dict[str, Path]
) -> None:
    base_before = _complete(api, deployed)
    for name, path in adapters.items():
        answer = api.post(f"/api/llm/models/{deployed}/adapters", json={"name": name, "path": str(path)})
        assert answer.status_code == 201, answer.text
    listed = api.get(f"/api/llm/models/{deployed}/adapters").json()["adapters"]
    assert set(listed) == {"one", "two"}
    models = [deployed, f"{deployed}:one", f"{deployed}:two"]
    alone = [_complete(api, m) for m in models]
    assert alone[0] == base_before  # the base model's rows are untouched by the adapters
    assert len(set(alone)) == 3  # each adapter changes the text
    with ThreadPoolExecutor(6) as pool:  # the three at once, twice: they share forward steps
        together = list(pool.map(lambda m: _complete(api, m), models * 2))
    assert together == alone * 2


@pytest.fixture(scope="module")
def misfit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter made for a wider model than ``model``."""
    folder = tmp_path_factory.mktemp("misfit")
    other = build_tiny_model(folder / "wider")
    config = json.loads((other / "config.json").read_text())
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(**{**config, "n_embd": 32})).save_pretrained(other)
    return build_tiny_adapter(other, folder / "misfit")


def test_an_adapter_that_does_not_fit_is_refused_naming_the_field(
    api: httpx.Client, deployed: str, misfit: Path
) -> None:
    answer = api.post(f"/api/llm/models/{deployed}/adapters", json={"name": "misfit", "path": str(misfit)})
    assert answer.status_code == 422 and "adapters.misfit" in answer.text and "does not match" in answer.text
    assert "misfit" not in api.get(f"/api/llm/models/{deployed}/adapters").json()["adapters"]
    unknown = api.post("/v1/completions", json={"model": f"{deployed}:nope", "prompt": PROMPT})
    assert unknown.status_code == 422 and "model" in unknown.text and "nope" in unknown.text
    assert _complete(api, deployed)  # the deployment still serves


def test_a_deploy_with_adapters_loads_them_and_refuses_one_that_does_not_fit(
    api: httpx.Client, deployed: str, model: Path, adapters: dict[str, Path], misfit: Path
) -> None:
    def listed() -> list[str]:
        return [d["deployment_id"] for d in api.get("/api/llm/models").json()["deployments"]]

    before = listed()
    body = {"model_name": str(model), "gpu_per_replica": 0, "max_sequence_length": CONTEXT}
    adapters_in = {"one": str(adapters["one"]), "misfit": str(misfit)}
    refused = api.post("/api/llm/models/deploy", json={**body, "adapters": adapters_in})
    assert refused.status_code == 422 and "adapters.misfit" in refused.text, refused.text
    assert listed() == before  # nothing half-deployed
    answer = api.post("/api/llm/models/deploy", json={**body, "adapters": {"one": str(adapters["one"])}})
    assert answer.status_code == 202, answer.text
    dep = answer.json()["deployment_id"]
    assert api.get(f"/api/llm/models/{dep}/adapters").json()["adapters"] == {"one": str(adapters["one"])}
    loaded = api.post(
        f"/api/llm/models/{deployed}/adapters", json={"name": "one", "path": str(adapters["one"])}
    )
    assert loaded.status_code == 201, loaded.text
    assert _complete(api, f"{dep}:one") == _complete(api, f"{deployed}:one") != _complete(api, dep)
    assert api.delete(f"/api/llm/models/{dep}").status_code == 200


SCHEMA = {
    "type": "object",
    "properties": {"city": {"enum": ["Oslo", "Rome"]}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
}


def _chat(api: httpx.Client, model: str, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 60, **extra}
    return api.post("/v1/chat/completions", json={"temperature": 0, **body})


def test_response_format_and_tools(api: httpx.Client, deployed: str) -> None:
    shaped = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA}}
    answer = _chat(api, deployed, response_format=shaped)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(json.loads(answer.json()["choices"][0]["message"]["content"]), SCHEMA)
    answer = _chat(api, deployed, response_format={"type": "json_object"})
    assert answer.status_code == 200, answer.text
    assert isinstance(json.loads(answer.json()["choices"][0]["message"]["content"]), dict)
    small = {"type": "object", "properties": {"sunny": {"type": "boolean"}}}  # the tiny model's context
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": small}}
    answer = _chat(api, deployed, tools=[tool])
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), small)
    plain = _chat(api, deployed, tools=[tool], tool_choice="none").json()["choices"][0]
    assert plain["finish_reason"] in ("stop", "length") and plain["message"]["tool_calls"] is None


def test_a_schema_that_is_not_json_schema_is_a_422_naming_the_field(api: httpx.Client, deployed: str) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integr"}}}
    answer = _chat(api, deployed, response_format=bad)
    assert answer.status_code == 422 and "response_format.json_schema.schema" in answer.text
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}
    answer = _chat(api, deployed, tools=[tool])
    assert answer.status_code == 422 and "tools[0].function.parameters" in answer.text


def test_requests_sharing_a_long_prompt_reuse_its_cache(head: HeadNode, deployed: str) -> None:
    llm = LLMClusterManager(head.cluster_manager)
    system = "a cluster runs tasks on workers. " * 6
    first, second = (llm.generate(deployed, system + q, max_tokens=4) for q in ("add?", "the fox?"))
    assert first.text is not None and second.text is not None
    counters = llm.replica_counters(deployed)[0].extra
    assert counters["prefix_hits"] >= 1 and counters["prefix_reused_tokens"] >= 20
