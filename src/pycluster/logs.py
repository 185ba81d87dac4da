"""One logging set-up for pycluster, Dask (``distributed``) and uvicorn records, for the CLI.

The library itself only logs, under ``pycluster.*`` loggers (lifecycle at INFO, details at
DEBUG), and configures nothing: ``logging.basicConfig(level=logging.DEBUG)`` in a user's
program shows them. The ``pycluster`` command calls :func:`configure_logging`, which puts one
handler with one format (text, or one JSON object per line) on the root logger, hands
Dask's and uvicorn's records to it instead of their own handlers and formats, routes
``warnings.warn`` (pandas, Dask) through logging, and keeps uvicorn's access log off.

>>> import io, json
>>> stream = io.StringIO()
>>> configure_logging("info", "json", stream=stream)
>>> logging.getLogger("pycluster.example").info("head %s started", "demo")
>>> record = json.loads(stream.getvalue())
>>> record["level"], record["logger"], record["message"]
('INFO', 'pycluster.example', 'head demo started')
>>> reset_logging()
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Literal

from .errors import ConfigError

__all__ = [
    "LEVELS",
    "JsonFormatter",
    "configure_logging",
    "level_from_flags",
    "library_level",
    "reset_logging",
]

LogFormat = Literal["text", "json"]
LEVELS = ("debug", "info", "warning", "error", "critical")
TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
# loggers that bring their own handlers (Dask at import, uvicorn per server): theirs go, ours is used
_FOREIGN = ("distributed", "uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings")
_MARK = "_pycluster_handler"
# what configure_logging changed, so reset_logging can put it back: logger -> (level, propagate, handlers)
_saved: dict[str, tuple[int, bool, list[logging.Handler]]] = {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def level_from_flags(level: str | None, verbose: int = 0, quiet: int = 0) -> int:
    """The level ``-l/--log-level``, ``-v`` and ``-q`` ask for: INFO by default, each ``-v`` one
    step more detail (DEBUG at most), each ``-q`` one step less (CRITICAL at most)."""
    if level is not None:
        if level.lower() not in LEVELS:
            raise ConfigError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
        base = logging.getLevelName(level.upper())
    else:
        base = logging.INFO
    return min(logging.CRITICAL, max(logging.DEBUG, base + 10 * (quiet - verbose)))


def configure_logging(
    level: int | str = logging.INFO, fmt: LogFormat = "text", stream: IO[str] | None = None
) -> None:
    """Send pycluster's, Dask's and uvicorn's records (and Python warnings) to one handler on
    ``stream`` (stderr) in one format. Calling it again replaces the earlier set-up."""
    if isinstance(level, str):
        level = level_from_flags(level)
    if fmt not in ("text", "json"):
        raise ConfigError(f"log format {fmt!r} is not one of text, json")
    reset_logging()
    for name in ("", "pycluster", *_FOREIGN):
        logger = logging.getLogger(name)
        _saved[name] = (logger.level, logger.propagate, list(logger.handlers))
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pycluster").setLevel(level)
    logging.getLogger("distributed").setLevel(library_level(level))
    logging.getLogger("uvicorn").setLevel(library_level(level))
    # the CLI's REST client: one INFO line per request would bury the command's own output
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(library_level(level))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # the access log: off by default
    for name in _FOREIGN:
        foreign = logging.getLogger(name)
        foreign.handlers = [h for h in foreign.handlers if getattr(h, _MARK, False)]
        foreign.propagate = True
    logging.captureWarnings(True)


def library_level(level: int) -> int:
    """Dask's and uvicorn's level for pycluster's ``level``: their INFO is chatty (every comm,
    every plugin, every request) and their DEBUG a flood, so they speak at WARNING unless
    pycluster is at DEBUG, where they add their INFO."""
    return max(level, logging.INFO if level <= logging.DEBUG else logging.WARNING)


def reset_logging() -> None:
    """Undo :func:`configure_logging`: its handler goes, levels and handlers are as before."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    for name, (level, propagate, handlers) in _saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers = [h for h in handlers if not getattr(h, _MARK, False)]
    _saved.clear()
    logging.captureWarnings(False)
