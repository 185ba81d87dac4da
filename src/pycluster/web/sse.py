"""Server-sent events for request streams (LLM tokens): one ``data:`` JSON line per item."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Generator, Iterable
from typing import Any

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..errors import PyClusterError

__all__ = ["EventStreamResponse", "sse_lines"]

log = logging.getLogger(__name__)


def sse_lines(
    first: Any, rest: Iterable[Any], done: str | None = None, source: Iterable[Any] | None = None
) -> Generator[bytes, None, None]:
    """``first`` then ``rest`` as SSE ``data:`` lines, then ``data: <done>`` when given.
    ``source`` (default ``rest``) is the generator closed at the end, when ``rest`` maps it.

    An error after the response has started cannot become a status code any more: it is
    sent as a last ``{"error": {...}}`` event, as OpenAI-compatible servers do.
    """
    try:
        for item in itertools.chain([first], rest):
            yield f"data: {json.dumps(item, default=str)}\n\n".encode()
    except Exception as exc:
        if not isinstance(exc, PyClusterError):
            log.exception("stream failed")
        error = {"message": str(exc) or type(exc).__name__, "type": type(exc).__name__}
        yield f"data: {json.dumps({'error': error})}\n\n".encode()
        return
    finally:
        close = getattr(rest if source is None else source, "close", None)
        if close is not None:  # a client that went away stops the generator (and its replica stream)
            close()
    if done is not None:
        yield f"data: {done}\n\n".encode()


class EventStreamResponse(StreamingResponse):
    """Streams ``lines`` (from ``sse_lines``) and closes them as soon as the response ends.

    A client that goes away leaves Starlette's iterator suspended, and only the garbage
    collector would close it (cycles through the disconnect's traceback can keep it for long):
    closing it here is what runs ``sse_lines``' ``finally`` at once, which cancels the
    request's row on its replica instead of letting it generate for nobody.
    """

    def __init__(self, lines: Generator[bytes, None, None]) -> None:
        super().__init__(lines, media_type="text/event-stream")
        self._lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, self._lines)


def _close(lines: Generator[bytes, None, None]) -> None:
    with contextlib.suppress(ValueError):  # still running in another thread: it ends by itself
        lines.close()
