"""Response models of the OpenAI-compatible ``/v1`` routes, in OpenAI's JSON shapes.

The routes build these objects and FastAPI writes them, so ``/openapi.json`` describes what
the answers really hold. A streamed answer is server-sent events, one chunk model per
``data:`` line (:class:`CompletionChunk`, :class:`ChatCompletionChunk`), then ``data: [DONE]``.
Beyond OpenAI's fields a model entry carries ``root`` (the model name) and ``status``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ChatChoice",
    "ChatChunkChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatDelta",
    "ChatMessageOut",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "ModelEntry",
    "ModelList",
    "ToolCall",
    "ToolCallFunction",
    "Usage",
    "stream_schema",
]

FinishReason = str  # "stop" (EOS or a stop sequence), "length" (max_tokens) or "tool_calls"


class ModelEntry(BaseModel):
    """A deployment as an OpenAI model: ``id`` is the deployment id, ``root`` the model name."""

    model_config = {"title": "Model"}
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "pycluster"
    root: str
    status: str = Field(examples=["ready", "loading", "failed"])


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelEntry]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None = None
    finish_reason: FinishReason | None = Field(examples=["stop", "length"])


class Completion(BaseModel):
    """``POST /v1/completions`` without ``stream``."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class CompletionChunk(BaseModel):
    """One event of a streamed completion; the last one has ``finish_reason`` and ``usage``."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ToolCallFunction(BaseModel):
    name: str
    arguments: str = Field(description="The arguments as a JSON text, as OpenAI sends them")


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessageOut(BaseModel):
    """The answer: ``content`` text, or (a request with ``tools``) ``tool_calls`` and no content."""

    model_config = {"title": "ChatCompletionMessage"}
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = None


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: None = None
    finish_reason: FinishReason = Field(examples=["stop", "length"])


class ChatCompletion(BaseModel):
    """``POST /v1/chat/completions`` without ``stream``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    """What a chunk adds: ``role`` in the first chunk only, ``content`` in all but the last."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    """One event of a streamed chat completion; the last one has ``finish_reason`` and ``usage``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


def stream_schema(chunk: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry of a route that may answer with server-sent events."""
    description = f"with stream: server-sent events, data: <{chunk.__name__} JSON> each, then data: [DONE]"
    return {
        200: {"content": {"text/event-stream": {"schema": {"type": "string", "description": description}}}}
    }
