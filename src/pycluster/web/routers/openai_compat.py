"""/v1/*: the OpenAI-compatible subset (models, completions, chat completions, streaming).

``model`` may name a deployment id (what ``GET /v1/models`` lists) or the model name it was
deployed with, and ``<that>:<adapter>`` runs one of its LoRA adapters. Sampling defaults are
OpenAI's (temperature 1, max_tokens 16 for completions).
Fields this server cannot honour (``n`` > 1, ``logprobs``, ``echo``) are refused with a 4xx
that names them rather than silently ignored; unknown extra fields are ignored, as the
OpenAI clients send new ones over time.

Structured output: ``response_format`` ``{"type": "json_schema", "json_schema": {"schema": ...}}``
or ``{"type": "json_object"}`` constrains the answer to such JSON (``llm/constrained.py``).
``tools``: unless ``tool_choice`` is ``"none"`` the answer is always one call of one of the
given functions (``"auto"`` acts as ``"required"``), its arguments constrained to the
function's ``parameters`` schema, returned as ``message.tool_calls`` with finish_reason
``tool_calls``. A schema that is not valid JSON Schema is a 422 naming the field.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import DeploymentNotFoundError, InferenceRequestError
from ...llm.cancel import CancelToken
from ...llm.constrained import JSON_OBJECT, check_schema, tool_call_schema
from ...llm.results import Generation, StreamEvent, StreamText
from ..deps import ERROR_RESPONSES
from ..disconnect import unless_disconnected
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
    ToolCall,
    ToolCallFunction,
    Usage,
    stream_schema,
)
from ..sse import EventStreamResponse, sse_lines
from .llm import llm_manager

if TYPE_CHECKING:
    from ...llm.manager import LLMClusterManager

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


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field("response", max_length=64)
    description: str | None = Field(None, max_length=10_000)
    schema_: dict[str, Any] = Field(alias="schema", description="A JSON Schema the answer must match")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def schema_or_none(self) -> dict[str, Any] | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return JSON_OBJECT
        if self.json_schema is None:
            raise InferenceRequestError('response_format.json_schema is missing: type "json_schema" needs it')
        check_schema(self.json_schema.schema_, "response_format.json_schema.schema")
        return self.json_schema.schema_


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(None, max_length=10_000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    function: FunctionSpec


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    function: dict[Literal["name"], str]


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    logprobs: Literal[False] | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None

    def called_tools(self) -> list[Tool]:
        """The tools the answer must call one of ([] when it answers in text)."""
        if not self.tools or self.tool_choice == "none":
            return []
        if isinstance(self.tool_choice, NamedToolChoice):
            name = self.tool_choice.function.get("name")
            chosen = [t for t in self.tools if t.function.name == name]
            if not chosen:
                raise InferenceRequestError(f"tool_choice names {name!r}, which is not one of tools")
            return chosen
        return self.tools

    def answer_schema(self, tools: list[Tool]) -> dict[str, Any] | None:
        """The JSON Schema the answer is constrained to, checked (None: free text)."""
        if tools:
            if self.response_format is not None and self.response_format.type != "text":
                raise InferenceRequestError("send response_format or tools, not both")
            for i, tool in enumerate(tools):
                check_schema(tool.function.parameters, f"tools[{i}].function.parameters")
            return tool_call_schema([(t.function.name, t.function.parameters) for t in tools])
        return self.response_format.schema_or_none() if self.response_format is not None else None


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
async def completions(body: CompletionRequest, request: Request) -> Completion | StreamingResponse:
    """Text completion (``stream: true`` answers with server-sent events ending ``[DONE]``)."""
    return await unless_disconnected(request, lambda token: _completions(body, request, token))


def _completions(
    body: CompletionRequest, request: Request, cancel: CancelToken
) -> Completion | StreamingResponse:
    manager = llm_manager(request)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        raise InferenceRequestError(f"send 1 to {MAX_PROMPTS} prompts, got {len(prompts)}")
    options = body.options(body.max_tokens, 16)
    model, options["adapter"] = _target(manager, body.model)
    ident = _Ident("cmpl", body.model)
    if body.stream:
        if len(prompts) > 1:
            raise InferenceRequestError("stream one prompt at a time")
        chunks = manager.stream_events(model, prompts[0], **options)
        events = (_event(_completion_chunk(ident, c)) for c in chunks)
        return _stream(events, chunks)
    with ThreadPoolExecutor(len(prompts)) as pool:  # concurrent, so the replica batches them
        results = list(pool.map(lambda p: manager.generate(model, p, cancel=cancel, **options), prompts))
    choices = [
        CompletionChoice(index=i, text=r.text, finish_reason=r.finish_reason) for i, r in enumerate(results)
    ]
    return Completion(**ident.head(), choices=choices, usage=_usage(results))


@router.post("/chat/completions", response_model=ChatCompletion, responses=stream_schema(ChatCompletionChunk))
async def chat_completions(body: ChatRequest, request: Request) -> ChatCompletion | StreamingResponse:
    """Chat completion through the model's chat template (``stream: true`` for SSE)."""
    return await unless_disconnected(request, lambda token: _chat_completions(body, request, token))


def _chat_completions(
    body: ChatRequest, request: Request, cancel: CancelToken
) -> ChatCompletion | StreamingResponse:
    manager = llm_manager(request)
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    tools = body.called_tools()
    schema = body.answer_schema(tools)
    if tools:
        messages = [_tools_message(tools), *messages]
        if body.stream:
            raise InferenceRequestError("tools: send stream false (tool calls are answered whole)")
    options = body.options(body.max_completion_tokens or body.max_tokens, 512)
    if schema is not None:
        options["json_schema"] = schema
    model, options["adapter"] = _target(manager, body.model)
    ident = _Ident("chatcmpl", body.model)
    if body.stream:
        chunks = manager.stream_events(model, messages=messages, **options)
        events = (_event(c) for c in _chat_chunks(ident, chunks))
        return _stream(events, chunks)
    result = manager.generate(model, messages=messages, cancel=cancel, **options)
    choice = _tool_choice(result) if tools else None
    if choice is None:
        message = ChatMessageOut(content=result.text)
        choice = ChatChoice(index=0, message=message, finish_reason=result.finish_reason)
    return ChatCompletion(**ident.head(), choices=[choice], usage=_usage([result]))


def _target(manager: LLMClusterManager, model: str) -> tuple[str, str | None]:
    """``model`` as (deployment, adapter): a name that is itself a deployment is one (a path may
    hold a colon), else ``base:adapter`` splits at the last colon."""
    base, colon, adapter = model.rpartition(":")
    if not colon or not base or not adapter:
        return model, None
    try:
        manager.deployment(model)
    except DeploymentNotFoundError:
        return base, adapter
    return model, None


def _tools_message(tools: list[Tool]) -> dict[str, str]:
    """A system message that tells the model which functions it may call, and how."""
    listed = [t.function.model_dump(exclude_none=True) for t in tools]
    return {
        "role": "system",
        "content": 'Call one function, as {"name":...,"arguments":...}: '
        + json.dumps(listed, separators=(",", ":")),
    }


def _tool_choice(result: Generation) -> ChatChoice | None:
    """The constrained answer as a tool call; None when it was cut short (finish_reason length)."""
    try:
        call = json.loads(result.text)
        name, arguments = call["name"], call["arguments"]
    except (ValueError, TypeError, KeyError):
        return None
    function = ToolCallFunction(name=name, arguments=json.dumps(arguments))
    message = ChatMessageOut(
        content=None, tool_calls=[ToolCall(id=f"call_{secrets.token_hex(12)}", function=function)]
    )
    return ChatChoice(index=0, message=message, finish_reason="tool_calls")


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
