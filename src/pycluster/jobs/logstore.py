"""Per-job logs on the head: one JSON-lines file per job under ``<state_dir>/logs``, with a size cap.

Entries arrive from the workers (:mod:`~pycluster.jobs.logcapture`, a Dask event per batch)
and are appended in arrival order. Each entry is one line of output::

    {"t": 1733230000.5, "piece": 0, "attempt": 0, "stream": "stdout", "text": "loaded 10 rows"}

``stream`` is ``stdout``, ``stderr``, ``log`` (the :mod:`logging` module), ``traceback`` (a
failed piece's full remote traceback, one entry), ``piece`` (an attempt started or ended, with
its duration) or ``pycluster`` (a note from us, such as the cap being reached).

The cap: once a job's file holds :data:`DEFAULT_CAP_BYTES`, one note says so and later output
is dropped, except tracebacks and piece markers (what one reads the logs for), kept up to
:data:`TRACEBACK_RESERVE_BYTES` more. Readers page by byte offset (``next_offset``), so a
follower asks only for what is new.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cluster.secret_files import private_dir, private_file
from ..errors import JobNotFoundError

__all__ = ["DEFAULT_CAP_BYTES", "TRACEBACK_RESERVE_BYTES", "JobLogs", "LogEntry", "LogPage", "PieceRun"]

log = logging.getLogger(__name__)

DEFAULT_CAP_BYTES = 1_000_000
TRACEBACK_RESERVE_BYTES = 256_000
_TRACEBACK_CHARS = 64_000  # one traceback longer than this keeps its first and last parts
_READ_BYTES = 256_000  # one page at most
_SIZES_KEPT = 10_000  # jobs whose log size is remembered (read again from the file after)
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_STREAMS = frozenset({"stdout", "stderr", "log", "traceback", "piece", "pycluster"})
_KEPT_PAST_CAP = frozenset({"traceback", "piece"})  # small and what one reads logs for


@dataclass(frozen=True)
class LogEntry:
    """One line a piece wrote (or its traceback)."""

    t: float
    piece: int
    attempt: int
    stream: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "piece": self.piece,
            "attempt": self.attempt,
            "stream": self.stream,
            "text": self.text,
        }


@dataclass(frozen=True)
class LogPage:
    """Entries from ``offset`` on; ask again with ``next_offset`` for newer ones."""

    job_id: str
    entries: list[LogEntry]
    offset: int
    next_offset: int
    size: int
    capped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "offset": self.offset,
            "next_offset": self.next_offset,
            "size": self.size,
            "capped": self.capped,
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass
class PieceRun:
    """One attempt of one piece, from its ``piece`` markers: when it ran, for how long, how it ended."""

    piece: int
    attempt: int
    started: float
    ended: float | None = None
    outcome: str = "running"  # "completed", "failed: ValueError", or "running" (no end marker yet)

    @property
    def duration_s(self) -> float | None:
        return None if self.ended is None else round(self.ended - self.started, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "piece": self.piece,
            "attempt": self.attempt,
            "started": self.started,
            "duration_s": self.duration_s,
            "outcome": self.outcome,
        }


@dataclass
class _Sizes:
    written: int = 0
    capped: bool = False


@dataclass
class JobLogs:
    """Appends and reads the logs of every job of one queue (thread-safe)."""

    folder: Path
    cap_bytes: int = DEFAULT_CAP_BYTES
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sizes: dict[str, _Sizes] = field(default_factory=dict, repr=False)

    def path(self, job_id: str) -> Path:
        if not _SAFE_ID.fullmatch(job_id):
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return self.folder / f"{job_id}.jsonl"

    # ------------------------------------------------------------ writing (from Dask's event thread)
    def on_event(self, event: tuple[float, Any]) -> None:
        """A batch from a worker (the subscriber of :data:`~pycluster.jobs.logcapture.LOGS_TOPIC`)."""
        _, message = event
        try:
            self.append_batch(message)
        except Exception as exc:  # a full disk or a malformed batch: the job goes on without it
            log.warning("could not store a batch of job logs: %s", exc)

    def append_batch(self, message: dict[str, Any]) -> None:
        job_id, piece, attempt = str(message["job_id"]), int(message["piece"]), int(message["attempt"])
        entries = [
            LogEntry(float(e["t"]), piece, attempt, str(e["stream"]), str(e["text"]))
            for e in message.get("entries", [])
            if str(e.get("stream")) in _STREAMS
        ]
        self.append(job_id, entries)

    def append(self, job_id: str, entries: list[LogEntry]) -> None:
        """Store ``entries`` for ``job_id``, within the cap."""
        path = self.path(job_id)
        with self._lock:
            sizes = self._sizes_of(job_id, path)
            lines = self._within_cap(sizes, [_shortened(e) for e in entries])
            if not lines:
                return
            private_dir(self.folder)  # what jobs print is the user's: 0700/0600 as the state dir
            data = "".join(lines).encode()
            with open(private_file(path), "ab") as out:
                out.write(data)
            sizes.written += len(data)

    def note(self, job_id: str, text: str) -> None:
        """A line of our own in the job's logs (``stream`` ``pycluster``)."""
        self.append(job_id, [LogEntry(time.time(), -1, 0, "pycluster", text)])

    def _sizes_of(self, job_id: str, path: Path) -> _Sizes:
        sizes = self._sizes.get(job_id)
        if sizes is None:
            if len(self._sizes) >= _SIZES_KEPT:  # a long-lived head: forget, the files know
                self._sizes.clear()
            written = path.stat().st_size if path.exists() else 0
            sizes = self._sizes[job_id] = _Sizes(written, written >= self.cap_bytes)
        return sizes

    def _within_cap(self, sizes: _Sizes, entries: list[LogEntry]) -> list[str]:
        lines: list[str] = []
        size = sizes.written
        for entry in entries:
            line = json.dumps(entry.to_dict()) + "\n"
            kept = entry.stream in _KEPT_PAST_CAP
            limit = self.cap_bytes + (TRACEBACK_RESERVE_BYTES if kept else 0)
            if size + len(line) <= limit and (not sizes.capped or kept):
                lines.append(line)
                size += len(line)
            elif not sizes.capped:
                sizes.capped = True
                note = LogEntry(
                    entry.t,
                    -1,
                    0,
                    "pycluster",
                    f"log cap of {self.cap_bytes} bytes reached; "
                    "later output of this job is dropped (tracebacks are still kept)",
                )
                lines.append(json.dumps(note.to_dict()) + "\n")
                size += len(lines[-1])
        return lines

    # ------------------------------------------------------------ reading
    def read(self, job_id: str, offset: int = 0, limit_bytes: int = _READ_BYTES) -> LogPage:
        """The entries stored from byte ``offset`` on (whole lines only, about ``limit_bytes``)."""
        path = self.path(job_id)
        try:
            with open(path, "rb") as stored:
                size = os.fstat(stored.fileno()).st_size
                stored.seek(min(offset, size))
                data = stored.read(limit_bytes)
        except FileNotFoundError:
            return LogPage(job_id, [], offset, offset, 0, False)
        whole = data[: data.rfind(b"\n") + 1]
        if not whole and len(data) == limit_bytes:  # one line bigger than a page: take it all
            whole = data
        entries = [_entry(line) for line in whole.splitlines() if line.strip()]
        with self._lock:
            capped = self._sizes_of(job_id, path).capped
        return LogPage(job_id, entries, offset, offset + len(whole), size, capped)

    def entries(self, job_id: str, *streams: str) -> list[LogEntry]:
        """Every stored entry of ``job_id`` on one of ``streams`` (all streams when none are named)."""
        found: list[LogEntry] = []
        offset = 0
        while True:
            page = self.read(job_id, offset)
            found.extend(e for e in page.entries if not streams or e.stream in streams)
            if page.next_offset == offset:
                return found
            offset = page.next_offset

    def tracebacks(self, job_id: str) -> list[LogEntry]:
        """Every traceback stored for ``job_id`` (one per failed attempt of a piece)."""
        return self.entries(job_id, "traceback")

    def pieces(self, job_id: str) -> list[PieceRun]:
        """Every attempt of every piece of ``job_id`` that started, in piece order."""
        return piece_runs(self.entries(job_id, "piece"))

    def discard(self, job_id: str) -> None:
        """Remove ``job_id``'s logs (the job was deleted or expired)."""
        with self._lock:
            self._sizes.pop(job_id, None)
            with contextlib.suppress(OSError, JobNotFoundError):
                os.remove(self.path(job_id))


def _shortened(entry: LogEntry) -> LogEntry:
    if entry.stream != "traceback" or len(entry.text) <= _TRACEBACK_CHARS:
        return entry
    half = _TRACEBACK_CHARS // 2
    text = f"{entry.text[:half]}\n… {len(entry.text) - 2 * half} characters left out …\n{entry.text[-half:]}"
    return LogEntry(entry.t, entry.piece, entry.attempt, entry.stream, text)


def _entry(line: bytes) -> LogEntry:
    try:
        data = json.loads(line)
        return LogEntry(
            float(data["t"]), int(data["piece"]), int(data["attempt"]), str(data["stream"]), str(data["text"])
        )
    except (ValueError, KeyError, TypeError):  # a line cut by a crash mid-write
        return LogEntry(0.0, -1, 0, "pycluster", "(a damaged log line was skipped)")


def piece_runs(markers: list[LogEntry]) -> list[PieceRun]:
    """Pair the ``piece`` markers ("started", then "<outcome> in <n> s") into attempts."""
    runs: dict[tuple[int, int], PieceRun] = {}
    for entry in markers:
        key = (entry.piece, entry.attempt)
        if entry.text == "started":
            runs[key] = PieceRun(entry.piece, entry.attempt, entry.t)
        elif key in runs:
            runs[key].ended = entry.t
            runs[key].outcome = entry.text.rsplit(" in ", 1)[0]
    return sorted(runs.values(), key=lambda r: (r.piece, r.attempt))
