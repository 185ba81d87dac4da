"""The runner: runs started jobs' pieces on Dask with retries, progress and checkpoints.

A job keeps at most ``max_cores`` of its pieces on the cluster at once. A piece that
fails is retried up to the job's ``max_retries``, after an exponential backoff with jitter
(:func:`backoff_delay`; the job's other pieces go on meanwhile); a finished piece of a job with
several is checkpointed, so a restarted queue skips it.

Liveness: nothing here waits on a worker. Results are fetched on a small thread pool
(a worker stopped right after finishing a piece would otherwise hold the dispatcher, and
with it every other job); a piece on the cluster longer than its job's ``timeout_s``
fails the job, and cancelled or timed-out pieces are really stopped
(:mod:`~pycluster.jobs.stopper`). A worker that stops answering altogether is dropped by
the scheduler after its ``worker-ttl`` (20 s on pycluster heads) and its pieces run again
elsewhere.

Not thread-safe on its own: :class:`~pycluster.jobs.queue.JobQueue` calls it with
its lock held. Only ``on_future_done`` and ``on_progress_event`` may be called from
any thread (Dask's); they queue the event and call ``wake``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import queue as stdqueue
import random
import secrets
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, Future

from ..errors import JobMemoryLimitError
from .checkpoints import Checkpoints
from .handover import HANDED_OVER, run_piece, started_at
from .logcapture import LoggedPiece
from .logstore import JobLogs
from .model import Job, JobStatus
from .operations import OperationContext, OperationRegistry, payload_path
from .payloads import PayloadStore
from .piece_memory import MemoryLimitedPiece
from .policy import Running
from .results import ResultStore
from .stopper import PieceStopper
from .store import JobStore

__all__ = ["FETCH_TIMEOUT", "MAX_BACKOFF", "JobRunner", "backoff_delay"]

log = logging.getLogger(__name__)

# A result not fetched by then counts as a failed attempt (retried). Long enough for a big
# result over a slow link and for the scheduler to replace a lost worker's copy.
FETCH_TIMEOUT = 120.0
# no retry waits longer than this, however many attempts came before (seconds)
MAX_BACKOFF = 600.0
# a piece's Dask key ends in this process's random prefix and a serial number: never the key of
# an attempt that an earlier process (before a restart) may still have on the scheduler
_KEY_PREFIX = secrets.token_hex(3)
_key_serial = itertools.count()
_LETTERS = str.maketrans("0123456789_", "ghijklmnopq")


def _group(job_id: str) -> str:
    """A job's own Dask task group: ``pycluster-job-`` and the job id in letters. Dask then sends a
    job's few pieces to a worker as they arrive and the worker starts the highest priority first;
    one group of thousands of trivial jobs would instead wait on the scheduler behind pieces
    already sent to the workers, whatever their priority.

    >>> _group("job_51d4fab6eb62")
    'pycluster-job-jobqlhdkfabmebmi'
    """
    return "pycluster-job-" + job_id.translate(_LETTERS)


def piece_key(job_id: str, attempt: str) -> str:
    """A piece's Dask key, written as Dask writes a tuple key: ``('<group>', '<job id>-<attempt>')``.

    Its task *group* is the job's own (:func:`_group`) while its task *prefix* is ``pycluster-job``
    for every job: the scheduler keeps a prefix (and the workers' metrics filed under it) for its
    whole life, so a prefix per job grew the head's memory with every job it ever ran; groups are
    forgotten with their tasks.

    >>> from dask.utils import key_split
    >>> from distributed.utils import key_split_group
    >>> key = piece_key("job_51d4fab6eb62", "0-0-a1b2c30")
    >>> key_split(key), key_split_group(key)
    ('pycluster-job', 'pycluster-job-jobqlhdkfabmebmi')
    """
    return f"('{_group(job_id)}', '{job_id}-{attempt}')"


def backoff_delay(base: float, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first) with ``base`` seconds
    of backoff: "equal jitter", a uniform draw in [d/2, d] where d = base * 2**(attempt-1),
    capped at :data:`MAX_BACKOFF`. Half of it is random so that pieces that failed together
    (one bad worker, a brief outage of what they read) do not all come back at the same moment;
    the other half keeps the waits growing, attempt after attempt.

    >>> [backoff_delay(0.2, n, random.Random(1)) >= 0.1 * 2 ** (n - 1) for n in (1, 2, 3)]
    [True, True, True]
    >>> backoff_delay(0, 5)
    0.0
    """
    if base <= 0:
        return 0.0
    full = min(MAX_BACKOFF, base * 2 ** min(attempt - 1, 64))
    return float(full / 2 + (rng or random).uniform(0, full / 2))


@dataclass
class _Run:
    """A running job's in-memory state; the store holds what must survive."""

    job: Job
    pieces: list[Any]
    results: dict[int, Any]
    pending: deque[int]
    delayed: dict[int, float] = field(default_factory=dict)  # piece: when it may retry (monotonic)
    in_flight: dict[str, Future[Any]] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)  # key: when it went to the cluster (monotonic)
    attempts: Counter[int] = field(default_factory=Counter)
    partial: dict[int, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    restored: int = 0  # pieces taken from checkpoints, left out of the rate
    last_write: float = 0.0
    # handed over ahead of a free core (look-ahead, jobs/handover.py): still 'queued' until a
    # piece reports that it started on a worker
    handed: bool = False
    dask_priority: int = 0  # of its pieces on the cluster (policy.dask_priority)

    @property
    def finished_pieces(self) -> bool:
        return not self.pending and not self.in_flight and not self.delayed


class JobRunner:
    """Started jobs, from planning their pieces to the stored result or error."""

    def __init__(
        self,
        client: Client | None,
        store: JobStore,
        operations: OperationRegistry,
        context: OperationContext,
        *,
        wake: Callable[[], None],
        changed: Callable[[], None],
    ) -> None:
        self.client = client  # None while no cluster is attached: started jobs wait for one
        self.store = store
        self.operations = operations
        self.context = context
        self.checkpoints = Checkpoints(context.state_dir / "checkpoints")
        self.results = ResultStore(context.state_dir / "results")
        self.logs = JobLogs(context.state_dir / "logs")  # what pieces print, per job (logcapture)
        self._wake = wake  # the dispatcher has events to drain
        # turns a piece's failure into a clearer one when its owner knows more (the head knows
        # which workers it ended for their memory); None: keep the failure as it is
        self.explain_failure: Callable[[BaseException], BaseException | None] = _as_is
        self._changed = changed  # a job's record changed: waiters look again
        self._runs: dict[str, _Run] = {}
        self._keys: dict[str, tuple[str, int]] = {}
        self._events: stdqueue.SimpleQueue[tuple[str, Any]] = stdqueue.SimpleQueue()
        self._fetcher = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pycluster-fetch")
        self._to_fetch: list[tuple[str, Future[Any]]] = []  # finished pieces, fetched per look
        self._stopper: PieceStopper | None = None
        # jobs whose rows are not written yet: one transaction per dispatcher look (write_pending)
        # instead of one per job and change
        self._unwritten: dict[str, Job] = {}
        self._writing: dict[str, Job] = {}  # being written (readers look here too)
        self.payloads: PayloadStore | None = None  # Python jobs' calls; set by the queue
        self._ended_python: list[str] = []  # Python jobs whose payloads can go (write_pending)

    # ------------------------------------------------------------ what runs
    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._runs

    def get(self, job_id: str) -> Job | None:
        """The live record of a running (or handed-over) job, or of one that ended here and is
        not written yet; None otherwise. Lock-free: one dict lookup at a time."""
        run = self._runs.get(job_id)
        if run is not None:
            return run.job
        return self._unwritten.get(job_id) or self._writing.get(job_id)

    def reservations(self) -> tuple[Running, ...]:
        """What running jobs have reserved, for the scheduling policy (handed-over jobs too: a
        job that needs several cores starts only once they are all free)."""
        return tuple(
            Running(r.job.client_id, r.job.max_cores, r.job.max_memory_gb) for r in self._runs.values()
        )

    def handed(self) -> list[Job]:
        """The handed-over jobs that have not started yet."""
        return [r.job for r in self._runs.values() if r.handed]

    # ------------------------------------------------------------ start, feed, stop
    def start(self, job: Job, handed: bool = False, dask_priority: int | None = None) -> None:
        """Plan ``job``'s pieces, restore checkpointed ones, and mark it running; ``handed``: hand
        it to the cluster ahead of a free core, still queued until a piece starts. Its pieces go
        to Dask with ``dask_priority`` (default: the job's priority)."""
        try:
            pieces = self.operations.lookup(job.operation).plan(job, self.context)
        except Exception as exc:
            self.finish(job, JobStatus.FAILED, error=f"could not plan the job: {type(exc).__name__}: {exc}")
            return
        if self.payloads is not None and job.kind == "python":
            self.payloads.planned(job.id)  # read back from its row if it is planned again
        # a single piece is never checkpointed (its result is the job's): no folder to look for
        saved = self.checkpoints.load_all(job.id) if len(pieces) > 1 else {}
        done = {i: r for i, r in saved.items() if i < len(pieces)}
        run = _Run(
            job, pieces, done, deque(i for i in range(len(pieces)) if i not in done), restored=len(done)
        )
        # the policy's scale (policy.dask_priority) without aging or fairness when none is given
        run.dask_priority = 1000 * int(job.priority) if dask_priority is None else dask_priority
        job.pieces_total, job.pieces_done = len(pieces), len(done)
        self._runs[job.id] = run
        if handed and not run.finished_pieces:
            run.handed = True
            job.waiting_reason = HANDED_OVER  # nothing to write: the row says 'queued', as it is
            return
        self._mark_running(run)
        if run.finished_pieces:
            self._complete(run)

    def _mark_running(self, run: _Run) -> None:
        job = run.job
        run.handed = False
        run.started = time.monotonic()
        job.status, job.started_at = JobStatus.RUNNING, job.started_at or time.time()
        job.waiting_reason = None
        self.write(job)
        log.info("job %s running: %d pieces, %d restored", job.id, job.pieces_total, run.restored)
        self._write_progress(run, force=True)

    def feed(self) -> None:
        """Keep up to ``max_cores`` pieces of every running job on the cluster: the pieces that go
        now are submitted together, one ``Client.map`` per Dask priority (one graph update on
        the scheduler for a look's worth of trivial jobs instead of one per job)."""
        if self.client is None:
            return
        batches: dict[int, list[tuple[_Run, int, str, LoggedPiece]]] = {}
        for run in list(self._runs.values()):
            for item in self._pieces_to_send(run):
                batches.setdefault(run.dask_priority, []).append(item)
        for priority, items in batches.items():
            futures = self.client.map(
                run_piece,
                [logged for *_, logged in items],
                [run.pieces[piece] for run, piece, _, _ in items],
                key=[key for _, _, key, _ in items],
                priority=priority,
                pure=False,
            )
            sent = time.monotonic()
            for (run, piece, key, _), future in zip(items, futures):
                run.in_flight[key] = future
                run.sent[key] = sent
                self._keys[key] = (run.job.id, piece)
                future.add_done_callback(self.on_future_done)

    def _pieces_to_send(self, run: _Run) -> list[tuple[_Run, int, str, LoggedPiece]]:
        now = time.monotonic()
        for piece, due in sorted(run.delayed.items(), key=lambda item: item[1], reverse=True):
            if due <= now:  # its backoff has passed: first in line again
                del run.delayed[piece]
                run.pending.appendleft(piece)
        func = self.operations.lookup(run.job.operation).piece_function()
        slots = max(1, math.floor(run.job.max_cores)) - len(run.in_flight)
        out: list[tuple[_Run, int, str, LoggedPiece]] = []
        while slots > 0 and run.pending:
            piece = run.pending.popleft()
            attempt = f"{piece}-{run.attempts[piece]}-{_KEY_PREFIX}{next(_key_serial)}"
            key = piece_key(run.job.id, attempt)
            limited = MemoryLimitedPiece(func, run.job.max_memory_gb, piece)  # stopped past max_memory_gb
            logged = LoggedPiece(
                limited, run.job.id, piece, run.attempts[piece]
            )  # its output: the job's logs
            out.append((run, piece, key, logged))
            slots -= 1
        return out

    def cancel(self, job_id: str) -> None:
        """Drop a running job and stop its running pieces (no-op when not running)."""
        run = self._runs.pop(job_id, None)
        if run is None:
            return
        if run.handed and run.in_flight and self.client is not None:
            # not started yet: cancelled on the scheduler before the caller hears "cancelled", so a
            # core freed a moment later never starts it (the stopper below works in the background)
            with contextlib.suppress(Exception):
                self.client.cancel(list(run.in_flight.values()))
        self._drop_pieces(run, stop=True)

    # ------------------------------------------------------------ time limits
    def next_deadline(self) -> float | None:
        """When (monotonic) the first in-flight piece passes its job's ``timeout_s``, or the first
        failed piece's backoff ends (the dispatcher wakes then); None if never."""
        deadlines = [
            sent + run.job.timeout_s
            for run in self._runs.values()
            if run.job.timeout_s is not None and not run.handed  # its clock starts with the piece
            for sent in run.sent.values()
        ]
        deadlines.extend(due for run in self._runs.values() for due in run.delayed.values())
        return min(deadlines, default=None)

    def check_deadlines(self, now: float | None = None) -> None:
        """Fail the jobs with a piece on the cluster past the job's ``timeout_s``, stopping the piece."""
        now = time.monotonic() if now is None else now
        for run in list(self._runs.values()):
            limit = run.job.timeout_s
            if run.handed:
                continue  # waiting for a core is not running past the limit
            late = [k for k, sent in run.sent.items() if limit is not None and now - sent >= limit]
            if not late or limit is None:
                continue
            where = self._stopper_for_client().locate(late) if self.client is not None else {}
            _, piece = self._keys.get(late[0], ("", -1))
            worker = where.get(late[0])
            place = f"on worker {worker}" if worker else "still waiting for or running on a worker"
            self._abort(
                run,
                f"piece {piece} ran past the job's timeout_s={limit:g} ({place}); it was stopped"
                + (" by restarting that worker process" if worker else ""),
                workers=where.values(),
            )

    def stop(self) -> None:
        """Forget every run and cancel its pieces; the store still says 'running' (resumed next start)."""
        futures = [f for run in self._runs.values() for f in run.in_flight.values()]
        self._runs.clear()
        self._keys.clear()
        if futures and self.client is not None:
            with contextlib.suppress(Exception):  # the cluster may already be gone
                self.client.cancel(futures)
        if self._stopper is not None:
            self._stopper.close()
            self._stopper = None

    def close(self) -> None:
        """Let the result fetches still under way end on their own (after :meth:`stop`)."""
        self._fetcher.shutdown(wait=False, cancel_futures=True)

    def release(self) -> list[Job]:
        """Stop every run because its cluster goes away; their jobs, to be queued again
        (checkpointed pieces are kept, so they resume where they were)."""
        jobs = [run.job for run in self._runs.values()]
        self.stop()
        return jobs

    def _drop_pieces(self, run: _Run, *, stop: bool = False, workers: Iterable[str] | None = None) -> None:
        """Forget ``run``'s pieces and cancel them; with ``stop`` (or named ``workers``) also end
        the worker processes still executing one, since a cancel leaves running code running."""
        for key in run.in_flight:
            self._keys.pop(key, None)
        futures = list(run.in_flight.values())
        run.in_flight.clear()
        run.sent.clear()
        if not futures or self.client is None:
            return
        stopper = self._stopper_for_client()
        if workers is None and stop:
            workers = stopper.locate(str(f.key) for f in futures).values()
        stopper.stop(futures, workers or ())

    def _stopper_for_client(self) -> PieceStopper:
        assert self.client is not None
        if self._stopper is None or self._stopper.client is not self.client:
            if self._stopper is not None:
                self._stopper.close()
            self._stopper = PieceStopper(self.client)
        return self._stopper

    # ------------------------------------------------------------ events (from the client's thread)
    def on_future_done(self, future: Future[Any]) -> None:
        self._events.put(("done", future.key))
        self._wake()

    def on_logs_event(self, event: tuple[float, Any]) -> None:
        """A batch of a piece's output (the subscriber of the logs topic): stored, and its
        "piece started" line tells a handed-over job that it runs (jobs/handover.py)."""
        self.logs.on_event(event)
        found = started_at(event[1])
        if found is not None:
            self._events.put(("started", found))
            self._wake()

    def on_progress_event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        self._events.put(("progress", message))
        self._wake()

    def drain_events(self) -> None:
        """Apply the events that arrived since the last call (with the queue's lock held)."""
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except stdqueue.Empty:
                break
            if kind == "done":
                self._piece_done(payload)
            elif kind == "fetched":
                self._piece_fetched(*payload)
            elif kind == "started":
                self._piece_started(*payload)
            elif kind == "progress" and isinstance(payload, dict):
                self._piece_progress(str(payload.get("key")), float(payload.get("fraction", 0.0)))
        self._fetch_finished()

    # ------------------------------------------------------------ pieces
    def _piece_started(self, job_id: str, when: float) -> None:
        """A handed-over job's piece started on a worker at ``when``: the job runs."""
        run = self._runs.get(job_id)
        if run is None or not run.handed:
            return
        now = time.time()
        started = min(when, now)  # a worker's clock ahead of ours: never a start in the future
        for key in run.sent:
            run.sent[key] = time.monotonic() - (now - started)  # its timeout_s counts from the start
        run.job.started_at = started
        self._mark_running(run)

    def _piece_progress(self, key: str, fraction: float) -> None:
        job_id, piece = self._keys.get(key, (None, -1))
        run = self._runs.get(job_id) if job_id else None
        if run is not None:
            run.partial[piece] = fraction
            self._write_progress(run)

    def _piece_done(self, key: str) -> None:
        job_id, piece = self._keys.get(key, (None, -1))
        run = self._runs.get(job_id) if job_id else None
        future = run.in_flight.get(key) if run else None
        if run is None or future is None:
            return
        if run.handed and future.status in ("finished", "error"):
            self._mark_running(run)  # it ran, and ended before its start was heard of (events travel apart)
        if future.status == "finished":
            # fetched on the pool (the worker holding the result may not answer), together with
            # the others that finished since the last look: one gather instead of one per piece
            self._to_fetch.append((key, future))
            return
        self._keys.pop(key, None)
        run.in_flight.pop(key, None)
        run.sent.pop(key, None)
        run.partial.pop(piece, None)
        if future.status == "error":
            self._piece_failed(run, piece, future.exception())
        else:  # cancelled underneath us (a scheduler restart): run it again
            run.pending.appendleft(piece)

    def _fetch_finished(self) -> None:
        if not self._to_fetch or self.client is None:
            return
        batch, self._to_fetch = self._to_fetch, []
        if len(batch) == 1:
            self._fetcher.submit(self._fetch, *batch[0])
        else:
            self._fetcher.submit(self._fetch_many, self.client, batch)

    def _fetch_many(self, client: Client, batch: list[tuple[str, Future[Any]]]) -> None:
        try:
            futures = [future for _, future in batch]
            results = client.sync(client._gather, futures, callback_timeout=FETCH_TIMEOUT)
        except BaseException:  # one of them was lost or is slow: each on its own, with its own error
            for key, future in batch:
                self._fetch(key, future)
            return
        for (key, _), result in zip(batch, results):
            self._events.put(("fetched", (key, result, None)))
        self._wake()

    def _fetch(self, key: str, future: Future[Any]) -> None:
        try:
            self._events.put(("fetched", (key, future.result(timeout=FETCH_TIMEOUT), None)))
        except BaseException as exc:  # lost between done and fetch (worker died), or too slow: retry
            self._events.put(("fetched", (key, None, exc)))
        self._wake()

    def _piece_fetched(self, key: str, result: Any, error: BaseException | None) -> None:
        job_id, piece = self._keys.pop(key, (None, -1))
        run = self._runs.get(job_id) if job_id else None
        if run is None:
            return
        future = run.in_flight.pop(key)
        run.sent.pop(key, None)
        run.partial.pop(piece, None)
        if error is not None:
            self._piece_failed(run, piece, error)
            return
        future.release()
        self._piece_succeeded(run, piece, result)

    def _piece_succeeded(self, run: _Run, piece: int, result: Any) -> None:
        if len(run.pieces) > 1:  # a single piece's result is saved as the job's result right away
            try:
                self.checkpoints.save(run.job.id, piece, result)
            except OSError as exc:  # a full disk: the job goes on, a restart redoes this piece
                log.warning("job %s: could not checkpoint piece %d: %s", run.job.id, piece, exc)
        run.results[piece] = result
        run.job.pieces_done = len(run.results)
        self._write_progress(run, force=True)
        if run.finished_pieces:
            self._complete(run)

    def _piece_failed(self, run: _Run, piece: int, exc: BaseException | None) -> None:
        if exc is not None:
            exc = self.explain_failure(exc) or exc
        run.attempts[piece] += 1
        job = run.job
        job.attempts = max(job.attempts, run.attempts[piece])
        error = f"piece {piece}: {type(exc).__name__}: {exc}"
        job.error = error
        if run.attempts[piece] <= job.max_retries and not isinstance(exc, JobMemoryLimitError):
            delay = backoff_delay(job.retry_backoff_s, run.attempts[piece])
            run.delayed[piece] = time.monotonic() + delay
            job.error = f"{error} (attempt {run.attempts[piece]}; retrying in {delay:.2f} s)"
            self.write(job)
            return
        self._abort(
            run, f"piece {piece} failed after {run.attempts[piece]} attempts: {type(exc).__name__}: {exc}"
        )

    # ------------------------------------------------------------ the end of a job
    def _abort(self, run: _Run, error: str, workers: Iterable[str] | None = None) -> None:
        self._runs.pop(run.job.id, None)
        self._drop_pieces(run, workers=workers)
        self.finish(run.job, JobStatus.FAILED, error=error)

    def _complete(self, run: _Run) -> None:
        job = run.job
        try:
            result = self.operations.lookup(job.operation).combine(
                job, [run.results[i] for i in range(len(run.pieces))], self.context
            )
            job.result, job.result_path = self.results.save(job, result)
        except Exception as exc:
            self._abort(run, f"could not combine the results: {type(exc).__name__}: {exc}")
            return
        self._runs.pop(job.id, None)
        job.progress, job.eta_seconds = 100.0, 0.0
        self.finish(job, JobStatus.COMPLETED, error=None)

    def finish(self, job: Job, status: JobStatus, error: str | None) -> None:
        """Store ``job``'s final status and drop its checkpoints and payload."""
        job.status, job.error, job.finished_at = status, error, time.time()
        job.expires_at = None if job.result_ttl_s is None else job.finished_at + job.result_ttl_s
        if status != JobStatus.COMPLETED:
            job.eta_seconds = None
        job.waiting_reason = None
        self.write(job)
        log.info("job %s %s%s", job.id, status.value, f": {error}" if error else "")
        if job.pieces_total > 1:
            self.checkpoints.discard(job.id)
        if job.kind == "python" and self.payloads is not None:
            self._ended_python.append(job.id)
        elif job.kind == "python":
            remove_file(payload_path(self.context, job))

    # ------------------------------------------------------------ writes, batched
    def write(self, job: Job) -> None:
        """Write ``job``'s whole row (as cheap as a few of its fields, and one statement for all
        jobs) at the next :meth:`write_pending`; readers get the live record from :meth:`get`
        until then."""
        self._unwritten[job.id] = job

    def write_pending(self) -> None:
        """Write the job updates made since the last call in one transaction, then wake whoever
        waits on a job. The dispatcher calls it at the end of every look (and
        after a cancel), so a finished job is stored within that look; a head killed before
        that runs the job again, as it would one killed while its piece was running."""
        ended, self._ended_python = self._ended_python, []
        if not self._unwritten and not ended:
            return
        self._writing, self._unwritten = self._unwritten, {}
        payloads = self.payloads

        def discard(db: sqlite3.Connection) -> None:
            if payloads is not None:
                payloads.delete_in(db, ended)

        try:
            # whole rows, in one transaction with the ended jobs' payloads: one commit per look.
            # A storage fault keeps the rows for store.flush; the payloads are deleted later
            if not self.store.update_many(self._writing.values(), also=discard if ended else None):
                self._ended_python.extend(ended)
        finally:
            self._writing = {}
        self._changed()

    def _write_progress(self, run: _Run, force: bool = False) -> None:
        job, now = run.job, time.monotonic()
        total = max(1, len(run.pieces))
        partial = sum(run.partial.values())
        job.progress = round(100.0 * min(total, len(run.results) + partial) / total, 2)
        done_here = len(run.results) - run.restored + partial
        remaining = total - len(run.results) - partial
        job.eta_seconds = round((now - run.started) * remaining / done_here, 2) if done_here > 0 else None
        if force or now - run.last_write > 0.25:
            run.last_write = now
            self.write(job)


def remove_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _as_is(exc: BaseException) -> BaseException | None:
    return None
