"""Server-sent events for request streams (LLM tokens): one ``data:`` JSON line per item."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import PyClusterError

__all__ = ["sse_lines"]

log = logging.getLogger(__name__)


def sse_lines(
    first: Any, rest: Iterable[Any], done: str | None = None, source: Iterable[Any] | None = None
) -> Iterator[bytes]:
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
