"""Per-piece log capture on the worker: what a piece prints or logs goes to its job's logs.

:class:`LoggedPiece` wraps a piece function. While it runs, everything the piece's thread
writes to ``sys.stdout``, ``sys.stderr`` or the :mod:`logging` module is collected and sent
to the head in small batches (a Dask event on :data:`LOGS_TOPIC`, at most every
:data:`FLUSH_INTERVAL` seconds and when the piece ends), where
:class:`~pycluster.jobs.logstore.JobLogs` stores it. A piece that raises also sends its full
traceback, as the worker saw it; a ``piece`` entry marks when each attempt started and how it
ended ("completed in 0.120 s", "failed: ValueError in 0.003 s"), for per-piece durations.

Memory: the scheduler keeps the last events of a topic (Dask's
``distributed.admin.low-level-log-length``: 100 in a head, see ``cluster/dask_logs.py``; Dask's
default is 1,000), so batches stay small (about 8,000 characters at most, one line at most
16,000): a few MB at worst.

Thread safety: a worker runs several pieces at once on its thread pool, and ``sys.stdout``
is one object per process. So the process's ``sys.stdout``/``sys.stderr`` are replaced once
by a router that hands each write to the capture of the *thread* that writes (a
thread-local), and passes it on to the original stream too (the worker's own output is
unchanged). Threads a piece starts itself are not captured; what they print still reaches
the worker's stdout.

Logging: a handler on the root logger takes the records emitted on a capturing thread. A
worker's root logger at Python's default (WARNING, no handlers) is lowered to INFO so that
``log.info(...)`` in a piece is captured; records of other threads then still reach stderr
at WARNING and above, as before (the handler does what :data:`logging.lastResort` did).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["FLUSH_INTERVAL", "LOGS_TOPIC", "LoggedPiece", "capture_piece"]

LOGS_TOPIC = "pycluster-logs"
FLUSH_INTERVAL = 0.25  # seconds between two batches of one piece (followers see lines this fresh)
_FLUSH_CHARS = 8_000  # a batch this big goes at once (the scheduler keeps its last events)
_LINE_CHARS = 16_000  # one line longer than this is split (a runaway print without newlines)

_local = threading.local()
_install_lock = threading.Lock()
_flusher: threading.Thread | None = None


@dataclass(eq=False)
class _Capture:
    """One running piece's output, batched for the head. Its thread writes; the flusher
    thread sends what waited :data:`FLUSH_INTERVAL` (a piece that printed, then went quiet)."""

    job_id: str
    piece: int
    attempt: int
    send: Callable[[dict[str, Any]], None]
    entries: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, str] = field(default_factory=dict)  # stream: text after its last newline
    chars: int = 0
    last_sent: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def write(self, stream: str, text: str) -> None:
        with self.lock:
            lines = (self.partial.pop(stream, "") + text).split("\n")
            self.partial[stream] = lines.pop()
            if len(self.partial[stream]) > _LINE_CHARS:
                lines.append(self.partial.pop(stream))
            for line in lines:
                self.add(stream, line)
            if self.chars >= _FLUSH_CHARS or time.monotonic() - self.last_sent >= FLUSH_INTERVAL:
                self.flush()

    def flush_if_due(self, now: float) -> None:
        with self.lock:
            if self.entries and now - self.last_sent >= FLUSH_INTERVAL:
                self.flush()

    def add(self, stream: str, text: str) -> None:
        with self.lock:
            self.entries.append({"t": time.time(), "stream": stream, "text": text})
            self.chars += len(text)

    def end_lines(self) -> None:
        """Text written without a final newline becomes a line of its own."""
        with self.lock:
            for stream, rest in list(self.partial.items()):
                if rest:
                    self.add(stream, rest)
            self.partial.clear()

    def flush(self) -> None:
        with self.lock:
            self.last_sent = time.monotonic()
            if not self.entries:
                return
            batch, self.entries, self.chars = self.entries, [], 0
            message = {"job_id": self.job_id, "piece": self.piece, "attempt": self.attempt, "entries": batch}
            # the worker is closing: losing its last lines must not fail the piece
            with contextlib.suppress(Exception):
                self.send(message)


_active: set[_Capture] = set()  # the pieces running in this process now
_active_lock = threading.Lock()


def _flush_quiet_pieces() -> None:
    """The flusher thread: lines of a piece that went quiet after writing still reach the head."""
    while True:
        time.sleep(FLUSH_INTERVAL / 2)
        with _active_lock:
            captures = list(_active)
        now = time.monotonic()
        for capture in captures:
            capture.flush_if_due(now)


class _Router:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: a capturing thread's writes also go to its piece."""

    def __init__(self, name: str, original: TextIO | None) -> None:
        self.name = name
        self.original = original

    def write(self, text: str) -> int:
        capture: _Capture | None = getattr(_local, "capture", None)
        if capture is not None and text and not getattr(_local, "muted", False):
            capture.write(self.name, text)
        if self.original is not None:
            return self.original.write(text)
        return len(text)

    def flush(self) -> None:
        if self.original is not None:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno…: the real stream's
        return getattr(self.original, name)


class _LogHandler(logging.Handler):
    """On the root logger: records of a capturing thread go to its piece."""

    def __init__(self, stand_in_for_last_resort: bool) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.stand_in = stand_in_for_last_resort

    def emit(self, record: logging.LogRecord) -> None:
        capture: _Capture | None = getattr(_local, "capture", None)
        if capture is not None:
            capture.write("log", self.format(record) + "\n")
        last = logging.lastResort
        others = [h for h in logging.root.handlers if h is not self]
        if self.stand_in and not others and last is not None and record.levelno >= last.level:
            _local.muted = True  # lastResort writes to sys.stderr: not captured a second time
            try:
                last.handle(record)
            finally:
                _local.muted = False


def _install() -> None:
    """Route this process's stdout, stderr and root logger through the captures (once)."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, _Router):
                setattr(sys, name, _Router(name, stream))
        global _flusher
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_quiet_pieces, name="pycluster-log-flush", daemon=True)
            _flusher.start()
        root = logging.getLogger()
        if not any(isinstance(h, _LogHandler) for h in root.handlers):
            default = root.level == logging.WARNING and not root.handlers
            root.addHandler(_LogHandler(stand_in_for_last_resort=default))
            if default:
                root.setLevel(logging.INFO)


def _to_head() -> Callable[[dict[str, Any]], None]:
    """Sends a batch as a Dask event of this worker (found here, on the piece's own thread:
    the flusher thread could not find it; ``log_event`` itself may be called from any thread)."""
    from distributed import get_worker

    worker = get_worker()
    return lambda message: worker.log_event(LOGS_TOPIC, message)


def capture_piece(
    func: Callable[[Any], Any],
    piece_input: Any,
    job_id: str,
    piece: int,
    attempt: int,
    send: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Run ``func(piece_input)`` with its thread's output captured and sent with ``send``
    (default: to the head, as an event of the worker running this)."""
    _install()
    capture = _Capture(job_id, piece, attempt, send or _to_head())
    outer = getattr(_local, "capture", None)  # a piece that runs a piece inline: restore after
    _local.capture = capture
    with _active_lock:
        _active.add(capture)
    started = time.monotonic()
    capture.add("piece", "started")
    outcome = "completed"
    try:
        return func(piece_input)
    except BaseException as exc:
        outcome = f"failed: {type(exc).__name__}"
        capture.end_lines()
        capture.add("traceback", _user_traceback(exc))
        raise
    finally:
        _local.capture = outer
        with _active_lock:
            _active.discard(capture)
        capture.end_lines()
        capture.add("piece", f"{outcome} in {time.monotonic() - started:.3f} s")
        capture.flush()  # one event for a piece that wrote little: what it wrote and how it ended


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the piece's own code down (our frame above it left out)."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


@dataclass(frozen=True)
class LoggedPiece:
    """A piece function whose output is captured for job ``job_id``'s logs (pickled to the worker)."""

    func: Callable[[Any], Any]
    job_id: str
    piece: int
    attempt: int

    def __call__(self, piece_input: Any) -> Any:
        return capture_piece(self.func, piece_input, self.job_id, self.piece, self.attempt)
