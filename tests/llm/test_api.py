"""The LLM REST API and the OpenAI-compatible /v1, over a real head's HTTP server (with a token)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from pycluster import HeadNode, LLMClusterManager
from tests.helpers import cli, running_head

from .tiny_model import CONTEXT

TOKEN = "llm-api-test-token"
PROMPT = "the quick brown fox"


@pytest.fixture(scope="module")
def token_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("llm-api-test", tmp_path_factory.mktemp("llm-api-state"), api_token=TOKEN) as node:
        yield node


@pytest.fixture(scope="module")
def api(token_head: HeadNode) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=token_head.dashboard_url or "", headers=headers, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def deployed(api: httpx.Client, tiny_model: Path) -> str:
    body = {"model_name": str(tiny_model), "gpu_per_replica": 0, "max_sequence_length": CONTEXT, "wait": True}
    answer = api.post("/api/llm/models/deploy", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["deployment"]["status"] == "ready"
    return str(answer.json()["deployment_id"])


def _sse(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]


def test_deploy_list_and_get(api: httpx.Client, deployed: str, token_head: HeadNode) -> None:
    listed = api.get("/api/llm/models").json()["deployments"]
    assert [d["deployment_id"] for d in listed] == [deployed]
    one = api.get(f"/api/llm/models/{deployed}").json()
    assert one["status"] == "ready" and one["replicas_ready"] == 1
    assert (
        one["replica_details"][0]["worker"] in token_head.cluster_manager.client.scheduler_info()["workers"]
    )
    assert {"requests_per_second", "tokens_per_second", "latency_ms"} <= set(one)


def test_inference_matches_the_python_api(api: HeadNode, deployed: str, token_head: HeadNode) -> None:
    answer = api.post(f"/api/llm/models/{deployed}/inference", json={"prompt": PROMPT, "max_tokens": 10})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    direct = LLMClusterManager(token_head.cluster_manager).inference(deployed, PROMPT, max_tokens=10)
    assert result["text"] == direct["text"] and result["tokens_generated"] == direct["tokens_generated"]
    assert result["finish_reason"] in {"length", "stop"} and result["latency_ms"] > 0
    stats = api.get(f"/api/llm/models/{deployed}").json()
    assert stats["total_requests"] >= 2 and stats["latency_ms"]["p50"] > 0


def test_inference_stream_is_server_sent_events(api: httpx.Client, deployed: str) -> None:
    body = {"prompt": PROMPT, "max_tokens": 10}
    whole = api.post(f"/api/llm/models/{deployed}/inference", json=body).json()
    answer = api.post(f"/api/llm/models/{deployed}/inference", json={**body, "stream": True})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(e) for e in _sse(answer)]
    assert events[-1]["done"] and events[-1]["result"]["text"] == whole["text"]
    assert "".join(e.get("text", "") for e in events[:-1]) == whole["text"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/llm/models/nope/inference", {"prompt": PROMPT}, 404, "no deployment"),
        ("{dep}/inference", {"prompt": PROMPT, "max_tokens": 0}, 422, "max_tokens"),
        ("{dep}/inference", {"prompt": "fox " * 200, "max_tokens": 5}, 422, "context"),
        ("{dep}/inference", {"prompt": "fox " * 200, "max_tokens": 5, "stream": True}, 422, "context"),
        ("{dep}/inference", {"prompt": PROMPT, "top_p": 0}, 422, "top_p"),
        ("{dep}/scale", {"replicas": 0}, 422, "replicas"),
        (
            "/api/llm/models/deploy",
            {"model_name": "/no/such/model", "gpu_per_replica": 0},
            404,
            "/no/such/model",
        ),
        ("/api/llm/models/deploy", {"model_name": "x", "precision": "fp64"}, 422, "precision"),
    ],
)
def test_bad_requests_get_4xx_with_a_reason(
    api: httpx.Client, deployed: str, path: str, body: dict, status: int, words: str
) -> None:
    answer = api.post(path.replace("{dep}", f"/api/llm/models/{deployed}"), json=body)
    assert answer.status_code == status, answer.text
    assert words in json.dumps(answer.json()["detail"])


def test_requests_without_the_token_are_refused(token_head: HeadNode, deployed: str) -> None:
    # this process is the head's own user on loopback, trusted without a token: a stranger is
    # played by a request through a proxy (tests/web/test_auth.py covers who needs the token)
    stranger = {"X-Forwarded-For": "203.0.113.7"}
    with httpx.Client(base_url=token_head.dashboard_url or "", timeout=30, headers=stranger) as anonymous:
        assert anonymous.get("/api/llm/models").status_code == 401
        assert anonymous.get("/v1/models").status_code == 401


def test_openai_client_completions_and_chat(token_head: HeadNode, deployed: str, api: httpx.Client) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{token_head.dashboard_url}/v1", api_key=TOKEN, max_retries=0)
    models = client.models.list()
    assert [m.id for m in models.data] == [deployed]

    expected = api.post(
        f"/api/llm/models/{deployed}/inference", json={"prompt": PROMPT, "max_tokens": 8}
    ).json()
    completion = client.completions.create(model=deployed, prompt=PROMPT, max_tokens=8, temperature=0)
    assert completion.choices[0].text == expected["text"]
    assert completion.usage is not None and completion.usage.completion_tokens == expected["tokens_generated"]
    assert completion.usage.prompt_tokens > 0

    streamed = client.completions.create(
        model=deployed, prompt=PROMPT, max_tokens=8, temperature=0, stream=True
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks) == expected["text"]
    assert chunks[-1].choices[0].finish_reason == expected["finish_reason"]

    messages = [{"role": "user", "content": "add two numbers"}]
    chat = client.chat.completions.create(model=deployed, messages=messages, max_tokens=6, temperature=0)
    reply = chat.choices[0].message
    assert reply.role == "assistant" and chat.usage is not None and 1 <= chat.usage.completion_tokens <= 6
    stream = client.chat.completions.create(
        model=deployed, messages=messages, max_tokens=6, temperature=0, stream=True
    )
    pieces = list(stream)
    assert pieces[0].choices[0].delta.role == "assistant"
    assert "".join(p.choices[0].delta.content or "" for p in pieces) == reply.content
    assert pieces[-1].choices[0].finish_reason == chat.choices[0].finish_reason


def test_openai_client_errors(token_head: HeadNode, deployed: str) -> None:
    openai = pytest.importorskip("openai")
    base = f"{token_head.dashboard_url}/v1"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
    client = openai.OpenAI(base_url=base, api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.NotFoundError, match="no deployment"):
        client.completions.create(model="no-such-model", prompt=PROMPT)
    with pytest.raises(openai.UnprocessableEntityError, match="context"):
        client.completions.create(model=deployed, prompt="fox " * 200, max_tokens=5, stream=True)
    with pytest.raises(openai.UnprocessableEntityError, match="max_tokens"):
        client.completions.create(model=deployed, prompt=PROMPT, max_tokens=0)
    with pytest.raises(openai.UnprocessableEntityError, match="n: Input should be 1"):
        client.completions.create(model=deployed, prompt=PROMPT, n=2)


def test_scale_and_undeploy(api: httpx.Client, tiny_model: Path) -> None:
    body = {"model_name": str(tiny_model), "gpu_per_replica": 0, "max_sequence_length": CONTEXT}
    started = api.post("/api/llm/models/deploy", json=body)
    assert started.status_code == 202 and started.json()["deployment"]["status"] in {"loading", "ready"}
    dep = started.json()["deployment_id"]
    scaled = api.post(f"/api/llm/models/{dep}/scale", json={"replicas": 2}).json()
    assert scaled["replicas"] == 2
    answer = api.post(f"/api/llm/models/{dep}/inference", json={"prompt": PROMPT, "max_tokens": 3})
    assert answer.status_code == 200 and answer.json()["tokens_generated"] == 3
    gone = api.delete(f"/api/llm/models/{dep}")
    assert gone.status_code == 200 and gone.json()["status"] == "undeployed"
    assert api.get(f"/api/llm/models/{dep}").status_code == 404
    assert dep not in [d["deployment_id"] for d in api.get("/api/llm/models").json()["deployments"]]


def test_cli_deploy_list_infer_scale_undeploy(
    token_head: HeadNode, tiny_model: Path, api: httpx.Client
) -> None:
    head = ["--url", token_head.dashboard_url or "", "--api-token", TOKEN]
    deployed = cli(
        "llm", *head, "deploy", str(tiny_model), "--gpus-per-replica", "0", "--max-sequence-length", "128"
    )
    assert deployed.returncode == 0, deployed.stderr
    dep = deployed.stdout.strip()
    assert "ready after" in deployed.stderr and "fp32" in deployed.stderr  # the CPU fallback note
    # stderr is a pipe: plain progress lines (replicas ready of all), never a carriage return
    assert "\r" not in deployed.stderr and f"loading {dep}: 100% 1/1 [" in deployed.stderr
    assert api.get(f"/api/llm/models/{dep}").json()["status"] == "ready"

    listed = cli("llm", *head, "list")
    assert listed.returncode == 0 and any(
        line.startswith(dep) and "ready" in line for line in listed.stdout.splitlines()
    )

    expected = api.post(f"/api/llm/models/{dep}/inference", json={"prompt": PROMPT, "max_tokens": 7}).json()
    plain = cli("llm", *head, "infer", dep, PROMPT, "--max-tokens", "7", "--no-stream")
    streamed = cli("llm", *head, "infer", dep, PROMPT, "--max-tokens", "7")
    assert plain.stdout == streamed.stdout == expected["text"] + "\n"
    assert "tokens" in streamed.stderr
    as_json = json.loads(cli("llm", *head, "infer", dep, PROMPT, "--max-tokens", "7", "--json").stdout)
    assert as_json["tokens_generated"] == expected["tokens_generated"]

    too_long = cli("llm", *head, "infer", dep, "fox " * 200, "--max-tokens", "5")
    assert too_long.returncode == 1 and "context" in too_long.stderr and "Traceback" not in too_long.stderr
    unknown = cli("llm", *head, "undeploy", "nope")
    assert unknown.returncode == 1 and "no deployment 'nope'" in unknown.stderr
    # the head's own user on loopback needs no token; a wrong one is refused all the same
    assert cli("llm", "--url", token_head.dashboard_url or "", "list").returncode == 0
    wrong = cli("llm", "--url", token_head.dashboard_url or "", "--api-token", "not-the-token", "list")
    assert wrong.returncode == 1 and "token" in wrong.stderr

    assert cli("llm", *head, "scale", dep, "2").returncode == 0
    assert api.get(f"/api/llm/models/{dep}").json()["replicas"] == 2
    gone = cli("llm", *head, "undeploy", dep)
    assert gone.returncode == 0 and api.get(f"/api/llm/models/{dep}").status_code == 404


def _round_trips(model: type[BaseModel], answer: dict[str, Any]) -> None:
    """``answer`` is exactly what ``model`` describes: it validates, and no key is left out or added."""
    parsed = model.model_validate(answer)
    dumped = parsed.model_dump(mode="json", exclude_unset=True)
    assert dumped == answer, f"{model.__name__} does not describe {answer}"


def test_every_v1_answer_matches_its_declared_model(api: httpx.Client, deployed: str) -> None:
    from pycluster.web import models_llm

    spec = api.get("/openapi.json").json()
    v1 = {(m.upper(), p) for p, methods in spec["paths"].items() if p.startswith("/v1/") for m in methods}
    declared = {
        route: spec["paths"][route[1]][route[0].lower()]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]["$ref"].rsplit("/", 1)[-1]
        for route in v1
    }
    assert declared == {
        ("GET", "/v1/models"): "ModelList",
        ("POST", "/v1/completions"): "Completion",
        ("POST", "/v1/chat/completions"): "ChatCompletion",
    }
    chat = {"model": deployed, "messages": [{"role": "user", "content": "add"}], "max_tokens": 4}
    bodies: dict[tuple[str, str], dict[str, Any] | None] = {
        ("GET", "/v1/models"): None,
        ("POST", "/v1/completions"): {"model": deployed, "prompt": [PROMPT, "def"], "max_tokens": 4},
        ("POST", "/v1/chat/completions"): chat,
    }
    for (method, path), name in declared.items():
        answer = api.request(method, path, json=bodies[(method, path)])
        assert answer.status_code == 200, answer.text
        _round_trips(getattr(models_llm, name), answer.json())
    assert api.get("/v1/models").json()["data"][0]["id"] == deployed

    # the streamed answers: one declared chunk model per event, then [DONE]
    streams = {
        "/v1/completions": (
            {"model": deployed, "prompt": PROMPT, "max_tokens": 4},
            models_llm.CompletionChunk,
        ),
        "/v1/chat/completions": (chat, models_llm.ChatCompletionChunk),
    }
    for path, (body, chunk_model) in streams.items():
        events = _sse(api.post(path, json={**body, "stream": True}))
        assert events[-1] == "[DONE]" and len(events) >= 3
        chunks = [json.loads(e) for e in events[:-1]]
        for chunk in chunks:
            _round_trips(chunk_model, chunk)
        assert "usage" in chunks[-1] and all("usage" not in c for c in chunks[:-1])
        assert chunks[-1]["choices"][0]["finish_reason"] in {"stop", "length"}
