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
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import InferenceRequestError
from ...llm.results import Generation, StreamEvent, StreamText
from ..deps import ERROR_RESPONSES
from ..models_llm import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatDelta,
    ChatMessageOut,
    Completion,
    CompletionChoice,
    CompletionChunk,
    ModelEntry,
    ModelList,
    Usage,
    stream_schema,
)
from ..sse import EventStreamResponse, sse_lines
from .llm import llm_manager

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["openai"])

MAX_PROMPTS = 32  # prompts in one /v1/completions call; they run concurrently and share batches
# a text the schema accepts fits in the 1 MB body cap (body_guard.py), so one a little over this
# is answered 422 by validation, not 413 by the cap: the schema tells the truth
MAX_TEXT = 500_000
Stops = Annotated[list[str], Field(max_length=16)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Prompts = Annotated[list[Text], Field(min_length=1, max_length=MAX_PROMPTS)]


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=1000)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | Stops | None = None
    # 2**53 - 1: the largest integer every JSON parser reads exactly (doubles past it are not)
    seed: int | None = Field(None, ge=0, le=2**53 - 1)
    stream: bool = False
    n: Literal[1] = Field(1, description="Choices per request: only 1 is supported")
    user: str | None = Field(None, max_length=1000)

    def options(self, max_tokens: int | None, default_max: int) -> dict[str, Any]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return {
            "max_tokens": default_max if max_tokens is None else max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop_sequences": stop,
            "seed": self.seed,
        }


class CompletionRequest(_Sampling):
    prompt: Text | Prompts = Field(examples=["def fibonacci(n):"])
    max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="Default 16, as OpenAI's")
    echo: Literal[False] = False
    logprobs: None = None
    suffix: None = None


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | Annotated[list[TextPart], Field(max_length=1000)]

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


@router.get("/models", response_model=ModelList)
def list_models(request: Request) -> ModelList:
    """Deployments as OpenAI models (``id`` is the deployment id; ``root`` the model name)."""
    deployments = llm_manager(request).deployments()
    return ModelList(
        data=[
            ModelEntry(id=d.deployment_id, created=int(d.created_at), root=d.model_name, status=d.status)
            for d in deployments
        ]
    )


@router.post("/completions", response_model=Completion, responses=stream_schema(CompletionChunk))
def completions(body: CompletionRequest, request: Request) -> Completion | StreamingResponse:
    """Text completion (``stream: true`` answers with server-sent events ending ``[DONE]``)."""
    manager = llm_manager(request)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        raise InferenceRequestError(f"send 1 to {MAX_PROMPTS} prompts, got {len(prompts)}")
    options = body.options(body.max_tokens, 16)
    ident = _Ident("cmpl", body.model)
    if body.stream:
        if len(prompts) > 1:
            raise InferenceRequestError("stream one prompt at a time")
        chunks = manager.stream_events(body.model, prompts[0], **options)
        events = (_event(_completion_chunk(ident, c)) for c in chunks)
        return _stream(events, chunks)
    with ThreadPoolExecutor(len(prompts)) as pool:  # concurrent, so the replica batches them
        results = list(pool.map(lambda p: manager.generate(body.model, p, **options), prompts))
    choices = [
        CompletionChoice(index=i, text=r.text, finish_reason=r.finish_reason) for i, r in enumerate(results)
    ]
    return Completion(**ident.head(), choices=choices, usage=_usage(results))


@router.post("/chat/completions", response_model=ChatCompletion, responses=stream_schema(ChatCompletionChunk))
def chat_completions(body: ChatRequest, request: Request) -> ChatCompletion | StreamingResponse:
    """Chat completion through the model's chat template (``stream: true`` for SSE)."""
    manager = llm_manager(request)
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    options = body.options(body.max_completion_tokens or body.max_tokens, 512)
    ident = _Ident("chatcmpl", body.model)
    if body.stream:
        chunks = manager.stream_events(body.model, messages=messages, **options)
        events = (_event(c) for c in _chat_chunks(ident, chunks))
        return _stream(events, chunks)
    result = manager.generate(body.model, messages=messages, **options)
    choice = ChatChoice(
        index=0, message=ChatMessageOut(content=result.text), finish_reason=result.finish_reason
    )
    return ChatCompletion(**ident.head(), choices=[choice], usage=_usage([result]))


class _Ident:
    """The fields every response and chunk of one request repeats."""

    def __init__(self, prefix: str, model: str) -> None:
        self.id = f"{prefix}-{secrets.token_hex(12)}"
        self.model = model
        self.created = int(time.time())

    def head(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "model": self.model}


def _stream(events: Iterator[dict[str, Any]], chunks: Iterator[StreamEvent]) -> StreamingResponse:
    # The first event is produced here, so a bad request (unknown model, prompt too long) is a
    # 4xx answer instead of an error inside a stream that has already said 200.
    first = next(events)
    return EventStreamResponse(sse_lines(first, events, done="[DONE]", source=chunks))


def _event(chunk: CompletionChunk | ChatCompletionChunk) -> dict[str, Any]:
    """A chunk as OpenAI sends it: ``usage`` only in the last one, a delta without empty fields."""
    event = chunk.model_dump()
    if chunk.usage is None:
        del event["usage"]
    for choice, model in zip(event["choices"], chunk.choices):
        if isinstance(model, ChatChunkChoice):
            choice["delta"] = model.delta.model_dump(exclude_none=True)
    return event


def _completion_chunk(ident: _Ident, chunk: StreamEvent) -> CompletionChunk:
    if isinstance(chunk, StreamText):
        choice = CompletionChoice(index=0, text=chunk.text, finish_reason=None)
        return CompletionChunk(**ident.head(), choices=[choice])
    choice = CompletionChoice(index=0, text="", finish_reason=chunk.result.finish_reason)
    return CompletionChunk(**ident.head(), choices=[choice], usage=_usage([chunk.result]))


def _chat_chunks(ident: _Ident, chunks: Iterator[StreamEvent]) -> Iterator[ChatCompletionChunk]:
    role: Literal["assistant"] | None = "assistant"  # sent in the first chunk only
    for chunk in chunks:
        if isinstance(chunk, StreamText):
            delta = ChatDelta(role=role, content=chunk.text)
            yield ChatCompletionChunk(**ident.head(), choices=[ChatChunkChoice(index=0, delta=delta)])
        else:
            delta = ChatDelta(role=role)
            choice = ChatChunkChoice(index=0, delta=delta, finish_reason=chunk.result.finish_reason)
            yield ChatCompletionChunk(**ident.head(), choices=[choice], usage=_usage([chunk.result]))
        role = None


def _usage(results: Sequence[Generation]) -> Usage:
    prompt = sum(r.prompt_tokens for r in results)
    completion = sum(r.tokens_generated for r in results)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
