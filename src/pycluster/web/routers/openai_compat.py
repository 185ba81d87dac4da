"""/v1/*: the OpenAI-compatible subset (models, completions, chat completions, streaming).

``model`` may name a deployment id (what ``GET /v1/models`` lists) or the model name it was
deployed with. Sampling defaults are OpenAI's (temperature 1, max_tokens 16 for completions).
Fields this server cannot honour (``n`` > 1, ``logprobs``, ``echo``, tools) are refused with a
400 that names them rather than silently ignored; unknown extra fields are ignored, as the
OpenAI clients send new ones over time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import InferenceRequestError
from ..deps import ERROR_RESPONSES
from ..sse import sse_lines
from .llm import llm_manager

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["openai"])

MAX_PROMPTS = 32  # prompts in one /v1/completions call; they run concurrently and share batches


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=1000)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    stream: bool = False
    n: Literal[1] = Field(1, description="Choices per request: only 1 is supported")
    user: str | None = Field(None, max_length=1000)

    def options(self, max_tokens: int | None, default_max: int) -> dict[str, Any]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > 16:
            raise InferenceRequestError("at most 16 stop sequences")
        return {
            "max_tokens": default_max if max_tokens is None else max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop_sequences": stop,
            "seed": self.seed,
        }


class CompletionRequest(_Sampling):
    prompt: str | list[str] = Field(examples=["def fibonacci(n):"])
    max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="Default 16, as OpenAI's")
    echo: Literal[False] = False
    logprobs: None = None
    suffix: None = None


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str = Field(max_length=1_000_000)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] = Field(max_length=1_000_000)

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    logprobs: Literal[False] | None = None
    tools: None = None


@router.get("/models")
def list_models(request: Request) -> dict[str, Any]:
    """Deployments as OpenAI models (``id`` is the deployment id; ``root`` the model name)."""
    return {
        "object": "list",
        "data": [
            {
                "id": d["deployment_id"],
                "object": "model",
                "created": int(d["created_at"]),
                "owned_by": "pycluster",
                "root": d["model_name"],
                "status": d["status"],
            }
            for d in llm_manager(request).list_deployments()
        ],
    }


@router.post("/completions", response_model=None)
def completions(body: CompletionRequest, request: Request) -> Any:
    """Text completion (``stream: true`` answers with server-sent events ending ``[DONE]``)."""
    manager = llm_manager(request)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        raise InferenceRequestError(f"send 1 to {MAX_PROMPTS} prompts, got {len(prompts)}")
    options = body.options(body.max_tokens, 16)
    ident = _Ident("cmpl", "text_completion", body.model)
    if body.stream:
        if len(prompts) > 1:
            raise InferenceRequestError("stream one prompt at a time")
        chunks = manager.stream(body.model, prompts[0], **options)
        events = (_completion_chunk(ident, c) for c in chunks)
        return _stream(events, chunks)
    with ThreadPoolExecutor(len(prompts)) as pool:  # concurrent, so the replica batches them
        results = list(pool.map(lambda p: manager.inference(body.model, p, **options), prompts))
    choices = [
        {"index": i, "text": r["text"], "logprobs": None, "finish_reason": r["finish_reason"]}
        for i, r in enumerate(results)
    ]
    return {**ident.head(), "choices": choices, "usage": _usage(results)}


@router.post("/chat/completions", response_model=None)
def chat_completions(body: ChatRequest, request: Request) -> Any:
    """Chat completion through the model's chat template (``stream: true`` for SSE)."""
    manager = llm_manager(request)
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    options = body.options(body.max_completion_tokens or body.max_tokens, 512)
    ident = _Ident("chatcmpl", "chat.completion", body.model)
    if body.stream:
        chunks = manager.stream(body.model, messages=messages, **options)
        events = _chat_chunks(ident, chunks)
        return _stream(events, chunks)
    result = manager.inference(body.model, messages=messages, **options)
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": result["text"]},
        "logprobs": None,
        "finish_reason": result["finish_reason"],
    }
    return {**ident.head(), "choices": [choice], "usage": _usage([result])}


class _Ident:
    """The fields every response and chunk of one request repeats."""

    def __init__(self, prefix: str, kind: str, model: str) -> None:
        self.id = f"{prefix}-{secrets.token_hex(12)}"
        self.kind = kind
        self.model = model
        self.created = int(time.time())

    def head(self, kind: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": kind or self.kind, "created": self.created, "model": self.model}


def _stream(events: Iterator[dict[str, Any]], chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    # The first event is produced here, so a bad request (unknown model, prompt too long) is a
    # 4xx answer instead of an error inside a stream that has already said 200.
    first = next(events)
    return StreamingResponse(
        sse_lines(first, events, done="[DONE]", source=chunks), media_type="text/event-stream"
    )


def _completion_chunk(ident: _Ident, chunk: dict[str, Any]) -> dict[str, Any]:
    done = chunk.get("done", False)
    choice = {
        "index": 0,
        "text": "" if done else chunk["text"],
        "logprobs": None,
        "finish_reason": chunk["result"]["finish_reason"] if done else None,
    }
    event = {**ident.head(), "choices": [choice]}
    if done:
        event["usage"] = _usage([chunk["result"]])
    return event


def _chat_chunks(ident: _Ident, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    role_sent = False
    for chunk in chunks:
        done = chunk.get("done", False)
        delta: dict[str, Any] = {} if done else {"content": chunk["text"]}
        if not role_sent:
            delta["role"] = "assistant"
            role_sent = True
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": chunk["result"]["finish_reason"] if done else None,
        }
        event = {**ident.head("chat.completion.chunk"), "choices": [choice]}
        if done:
            event["usage"] = _usage([chunk["result"]])
        yield event


def _usage(results: list[dict[str, Any]]) -> dict[str, int]:
    prompt = sum(int(r.get("prompt_tokens", 0)) for r in results)
    completion = sum(int(r["tokens_generated"]) for r in results)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
