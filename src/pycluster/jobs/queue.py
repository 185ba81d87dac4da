"""JobQueue: a persistent priority queue that runs jobs on the cluster.

Dispatch order (documented in the README):

1. *Level* = priority + one level per ``aging_interval`` spent waiting, so a stream
   of HIGH jobs cannot starve a LOW job forever (it reaches CRITICAL's level after
   three intervals).
2. Within a level, the client with the fewest running jobs goes first, so one
   client's thousand jobs cannot block another client's single job.
3. Then first come, first served.

A job starts only while fewer than ``max_concurrent_jobs`` run and its
``max_cores`` / ``max_memory_gb`` fit in what running jobs have not reserved;
smaller jobs further down may start while a bigger one waits (backfill). A job
keeps at most ``max_cores`` of its pieces on the cluster at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue as stdqueue
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, Future

from ..errors import JobNotFoundError, JobRejectedError, JobStateError
from .checkpoints import Checkpoints
from .handle import JobHandle
from .model import FINISHED, Job, JobStatus, Priority
from .operations import OperationContext, get_operation
from .progress import PROGRESS_TOPIC
from .results import ResultStore
from .store import JobStore

__all__ = ["DATABASE_NAME", "JobQueue", "QueueSettings"]

# jobs, datasets and deployments share one SQLite file in the state directory
DATABASE_NAME = "pycluster.sqlite3"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSettings:
    max_concurrent_jobs: int = 4
    check_interval: float = 5.0
    default_max_cores: float = 1.0
    default_max_memory_gb: float = 1.0
    default_retries: int = 3
    aging_interval: float = 60.0


@dataclass
class _Run:
    """A running job's in-memory state; the store holds what must survive."""

    job: Job
    pieces: list[Any]
    results: dict[int, Any]
    pending: deque[int]
    in_flight: dict[str, Future] = field(default_factory=dict)
    attempts: Counter[int] = field(default_factory=Counter)
    partial: dict[int, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    restored: int = 0  # pieces taken from checkpoints, left out of the rate
    last_write: float = 0.0

    @property
    def finished_pieces(self) -> bool:
        return not self.pending and not self.in_flight


class JobQueue:
    """Accepts, stores, orders and runs jobs; survives restarts of the process that holds it."""

    def __init__(self, client: Client, state_dir: Path, settings: QueueSettings | None = None) -> None:
        self.client = client
        self.settings = settings or QueueSettings()
        self.state_dir = Path(state_dir)
        self.store = JobStore(self.state_dir / DATABASE_NAME)
        self.checkpoints = Checkpoints(self.state_dir / "checkpoints")
        self.results = ResultStore(self.state_dir / "results")
        self.context = OperationContext(self.state_dir)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._waiting: dict[str, Job] = {}
        self._runs: dict[str, _Run] = {}
        self._keys: dict[str, tuple[str, int]] = {}
        self._events: stdqueue.SimpleQueue[tuple[str, Any]] = stdqueue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._capacity_cache: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        self._thread = threading.Thread(target=self._loop, name="pycluster-job-queue", daemon=True)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> JobQueue:
        """Recover jobs from the store (running ones resume from checkpoints) and start dispatching."""
        for job in self.store.with_status(JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING):
            job.status = JobStatus.QUEUED
            job.queued_at = job.queued_at or time.time()
            self.store.update(job, "status", "queued_at")
            self._waiting[job.id] = job
        self.client.subscribe_topic(PROGRESS_TOPIC, self._on_progress_event)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop dispatching; running jobs stay 'running' in the store and resume at the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        with self._lock:
            futures = [f for run in self._runs.values() for f in run.in_flight.values()]
            self._runs.clear()
        if futures:
            with contextlib.suppress(Exception):  # the cluster may already be gone
                self.client.cancel(futures)
        self.store.close()

    # ------------------------------------------------------------ submit
    def submit_job(
        self,
        operation: str,
        parameters: dict[str, Any] | None = None,
        *,
        dataset_id: str | None = None,
        priority: Priority | str | int = Priority.NORMAL,
        max_cores: float | None = None,
        max_memory_gb: float | None = None,
        retries: int | None = None,
        client_id: str = "default",
        kind: str = "operation",
        job_id: str | None = None,
    ) -> Job:
        """Validate and store a job; it is dispatched in priority order. The stored Job."""
        from .model import new_job_id

        op = get_operation(operation)
        try:
            cleaned = op.validate(dict(parameters or {}), dataset_id, self.context)
            job = Job(
                id=job_id or new_job_id(),
                kind=kind,
                operation=operation,
                parameters=cleaned,
                dataset_id=dataset_id,
                priority=Priority.parse(priority),
                client_id=client_id,
                max_cores=_positive("max_cores", max_cores, self.settings.default_max_cores),
                max_memory_gb=_positive("max_memory_gb", max_memory_gb, self.settings.default_max_memory_gb),
                max_retries=_retries(retries, self.settings.default_retries),
            )
        except ValueError as exc:
            raise JobRejectedError(str(exc)) from None
        self._refuse_if_never_fits(job)
        with self._lock:
            self.store.insert(job)
            self._waiting[job.id] = job
        self._wake.set()
        return job

    def _refuse_if_never_fits(self, job: Job) -> None:
        cores, memory_gb, _ = self._capacity(max_age=2.0)  # a fresh RPC per submit would cost ~ms each
        if cores and job.max_cores > cores:
            raise JobRejectedError(
                f"max_cores={job.max_cores:g} is more than the whole cluster has ({cores:g} cores); "
                "lower max_cores or add workers"
            )
        if memory_gb and job.max_memory_gb > memory_gb:
            raise JobRejectedError(
                f"max_memory_gb={job.max_memory_gb:g} is more than the whole cluster has "
                f"({memory_gb:.2f} GB); lower max_memory_gb or add workers"
            )

    def submit(
        self,
        func: Callable[..., Any],
        *args: Any,
        priority: Priority | str | int = Priority.NORMAL,
        max_cores: float | None = None,
        max_memory_gb: float | None = None,
        retries: int | None = None,
        client_id: str = "python",
        **kwargs: Any,
    ) -> JobHandle:
        """Run ``func(*args, **kwargs)`` as a job (Python only, never over REST); a JobHandle."""
        return self._submit_python(
            "python.call", (func, args, kwargs), priority, max_cores, max_memory_gb, retries, client_id
        )

    def map(
        self,
        func: Callable[..., Any],
        items: Iterable[Any],
        *,
        priority: Priority | str | int = Priority.NORMAL,
        max_cores: float | None = None,
        max_memory_gb: float | None = None,
        retries: int | None = None,
        client_id: str = "python",
        **kwargs: Any,
    ) -> JobHandle:
        """One job that applies ``func`` to each item: progress per item, retries and
        checkpoints per item; ``result()`` is the list of results in order."""
        return self._submit_python(
            "python.map", (func, list(items), kwargs), priority, max_cores, max_memory_gb, retries, client_id
        )

    def _submit_python(
        self,
        operation: str,
        payload: tuple[Any, ...],
        priority: Priority | str | int,
        max_cores: float | None,
        max_memory_gb: float | None,
        retries: int | None,
        client_id: str,
    ) -> JobHandle:
        from .model import new_job_id

        job_id = new_job_id()
        path = self.context.state_dir / "payloads" / f"{job_id}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_pickled_payload(payload))
        try:
            self.submit_job(
                operation,
                {},
                priority=priority,
                max_cores=max_cores,
                max_memory_gb=max_memory_gb,
                retries=retries,
                client_id=client_id,
                kind="python",
                job_id=job_id,
            )
        except BaseException:
            _remove(path)
            raise
        return JobHandle(self, job_id)

    # ------------------------------------------------------------ read and cancel
    def get(self, job_id: str) -> Job:
        with self._lock:
            live = self._runs.get(job_id)
            if live is not None:
                return live.job
            job = self._waiting.get(job_id) or self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return job

    def list(
        self, status: JobStatus | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[int, list[Job]]:
        total, jobs = self.store.list(status, limit, offset)
        return total, [self._freshest(j) for j in jobs]

    def _freshest(self, job: Job) -> Job:
        with self._lock:
            run = self._runs.get(job.id)
            return run.job if run else self._waiting.get(job.id, job)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; JobStateError (409) for a finished one."""
        with self._lock:
            job = self.get(job_id)
            if job.status in FINISHED:
                raise JobStateError(
                    f"job {job_id} is already {job.status.value}; "
                    "only queued or running jobs can be cancelled"
                )
            run = self._runs.pop(job_id, None)
            self._waiting.pop(job_id, None)
            if run is not None:
                futures = list(run.in_flight.values())
                for key in run.in_flight:
                    self._keys.pop(key, None)
                self.client.cancel(futures)
            self._finish(job, JobStatus.CANCELLED, error=job.error)
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (or ``timeout`` passes); the job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                job = self.get(job_id)
                if job.status in FINISHED:
                    return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.status.value} after {timeout:g}s")
                self._changed.wait(remaining if remaining is not None else 1.0)

    def queue_status(self) -> dict[str, Any]:
        """Totals by status, waiting jobs by priority, and cluster resource usage."""
        counts = self.store.counts()
        by_status: Counter[str] = Counter()
        for (status, _), n in counts.items():
            by_status[status] += n
        with self._lock:
            waiting = Counter(j.priority.name for j in self._waiting.values())
            reserved_cores = sum(r.job.max_cores for r in self._runs.values())
            reserved_gb = sum(r.job.max_memory_gb for r in self._runs.values())
        cores, memory_gb, used_gb = self._capacity(max_age=1.0)
        return {
            "scheduler_running": self._thread.is_alive(),
            "queue_status": {
                "total_pending": by_status["pending"],
                "total_queued": by_status["queued"] + by_status["pending"],
                "total_running": by_status["running"],
                "total_completed": by_status["completed"],
                "total_failed": by_status["failed"],
                "total_cancelled": by_status["cancelled"],
                "priority_breakdown": dict(waiting),
                "max_concurrent_jobs": self.settings.max_concurrent_jobs,
            },
            "resource_usage": {
                "cluster_resources": {
                    "total_memory_gb": round(memory_gb, 2),
                    "used_memory_gb": round(used_gb, 2),
                    "available_memory_gb": round(max(0.0, memory_gb - used_gb), 2),
                    "memory_usage_percent": round(100 * used_gb / memory_gb, 2) if memory_gb else 0.0,
                    "total_cores": cores,
                    "used_cores": reserved_cores,
                    "available_cores": max(0.0, cores - reserved_cores),
                    "reserved_memory_gb": round(reserved_gb, 2),
                }
            },
        }

    # ------------------------------------------------------------ dispatcher
    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.settings.check_interval)
            self._wake.clear()
            try:
                with self._lock:
                    self._tick()
            except Exception:  # a bad job must never stop the queue
                log.exception("job queue tick failed")

    def _tick(self) -> None:
        self._drain_events()
        self._promote_pending()
        self._admit()
        for run in list(self._runs.values()):
            self._feed(run)

    def _promote_pending(self) -> None:
        for job in self._waiting.values():
            if job.status == JobStatus.PENDING:
                job.status, job.queued_at = JobStatus.QUEUED, time.time()
                self.store.update(job, "status", "queued_at")

    def _level(self, job: Job, now: float) -> int:
        waited = now - (job.queued_at or job.created_at)
        return int(job.priority) + int(waited // self.settings.aging_interval)

    def _admit(self) -> None:
        if not self._waiting or len(self._runs) >= self.settings.max_concurrent_jobs:
            return
        cores, memory_gb, _ = self._capacity(max_age=1.0)
        now = time.time()
        while len(self._runs) < self.settings.max_concurrent_jobs:
            free_cores = cores - sum(r.job.max_cores for r in self._runs.values())
            free_gb = memory_gb - sum(r.job.max_memory_gb for r in self._runs.values())
            running_by_client = Counter(r.job.client_id for r in self._runs.values())
            fitting = (
                j
                for j in self._waiting.values()
                if j.max_cores <= free_cores + 1e-9 and j.max_memory_gb <= free_gb + 1e-9
            )
            # one pass per free slot (not a sort): thousands may wait, few slots free up at once
            best = min(
                fitting,
                key=lambda j: (-self._level(j, now), running_by_client[j.client_id], j.seq),
                default=None,
            )
            if best is None:
                return
            self._start(best)

    def _start(self, job: Job) -> None:
        del self._waiting[job.id]
        try:
            pieces = get_operation(job.operation).plan(job, self.context)
        except Exception as exc:
            self._finish(job, JobStatus.FAILED, error=f"could not plan the job: {type(exc).__name__}: {exc}")
            return
        done = {i: r for i, r in self.checkpoints.load_all(job.id).items() if i < len(pieces)}
        run = _Run(
            job, pieces, done, deque(i for i in range(len(pieces)) if i not in done), restored=len(done)
        )
        job.status, job.started_at = JobStatus.RUNNING, job.started_at or time.time()
        job.pieces_total, job.pieces_done = len(pieces), len(done)
        self._runs[job.id] = run
        self.store.update(job, "status", "started_at", "pieces_total", "pieces_done")
        self._write_progress(run, force=True)
        if run.finished_pieces:
            self._complete(run)

    def _feed(self, run: _Run) -> None:
        """Keep up to max_cores pieces of ``run`` on the cluster."""
        if run.job.id not in self._runs:
            return
        func = get_operation(run.job.operation).piece_function()
        slots = max(1, math.floor(run.job.max_cores)) - len(run.in_flight)
        while slots > 0 and run.pending:
            piece = run.pending.popleft()
            key = f"pycluster-job-{run.job.id}-{piece}-{run.attempts[piece]}-{secrets.token_hex(3)}"
            future = self.client.submit(
                func, run.pieces[piece], key=key, priority=int(run.job.priority), pure=False
            )
            run.in_flight[key] = future
            self._keys[key] = (run.job.id, piece)
            future.add_done_callback(self._on_future_done)
            slots -= 1

    # ------------------------------------------------------------ events (from the client's thread)
    def _on_future_done(self, future: Future) -> None:
        self._events.put(("done", future.key))
        self._wake.set()

    def _on_progress_event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        self._events.put(("progress", message))
        self._wake.set()

    def _drain_events(self) -> None:
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except stdqueue.Empty:
                return
            if kind == "done":
                self._piece_done(payload)
            elif kind == "progress" and isinstance(payload, dict):
                self._piece_progress(str(payload.get("key")), float(payload.get("fraction", 0.0)))

    def _piece_progress(self, key: str, fraction: float) -> None:
        job_id, piece = self._keys.get(key, (None, -1))
        run = self._runs.get(job_id) if job_id else None
        if run is not None:
            run.partial[piece] = fraction
            self._write_progress(run)

    def _piece_done(self, key: str) -> None:
        job_id, piece = self._keys.pop(key, (None, -1))
        run = self._runs.get(job_id) if job_id else None
        if run is None:
            return
        future = run.in_flight.pop(key)
        run.partial.pop(piece, None)
        if future.status == "finished":
            self._piece_succeeded(run, piece, future)
        elif future.status == "error":
            self._piece_failed(run, piece, future.exception())
        else:  # cancelled underneath us (a scheduler restart): run it again
            run.pending.appendleft(piece)

    def _piece_succeeded(self, run: _Run, piece: int, future: Future) -> None:
        try:
            result = future.result()
        except Exception as exc:  # lost between done and fetch (worker died): retry
            self._piece_failed(run, piece, exc)
            return
        future.release()
        if len(run.pieces) > 1:  # a single piece's result is saved as the job's result right away
            self.checkpoints.save(run.job.id, piece, result)
        run.results[piece] = result
        run.job.pieces_done = len(run.results)
        self._write_progress(run, force=True)
        if run.finished_pieces:
            self._complete(run)

    def _piece_failed(self, run: _Run, piece: int, exc: BaseException | None) -> None:
        run.attempts[piece] += 1
        job = run.job
        job.attempts = max(job.attempts, run.attempts[piece])
        job.error = f"piece {piece}: {type(exc).__name__}: {exc}"
        if run.attempts[piece] <= job.max_retries:
            run.pending.appendleft(piece)
            self.store.update(job, "attempts", "error")
            return
        self._abort(
            run, f"piece {piece} failed after {run.attempts[piece]} attempts: {type(exc).__name__}: {exc}"
        )

    def _abort(self, run: _Run, error: str) -> None:
        self._runs.pop(run.job.id, None)
        for key in run.in_flight:
            self._keys.pop(key, None)
        if run.in_flight:
            self.client.cancel(list(run.in_flight.values()))
        self._finish(run.job, JobStatus.FAILED, error=error)

    def _complete(self, run: _Run) -> None:
        job = run.job
        try:
            result = get_operation(job.operation).combine(
                job, [run.results[i] for i in range(len(run.pieces))], self.context
            )
            job.result, job.result_path = self.results.save(job, result)
        except Exception as exc:
            self._abort(run, f"could not combine the results: {type(exc).__name__}: {exc}")
            return
        self._runs.pop(job.id, None)
        job.progress, job.eta_seconds = 100.0, 0.0
        self._finish(job, JobStatus.COMPLETED, error=None)

    def _finish(self, job: Job, status: JobStatus, error: str | None) -> None:
        job.status, job.error, job.finished_at = status, error, time.time()
        if status != JobStatus.COMPLETED:
            job.eta_seconds = None
        self.store.update(job)
        self.checkpoints.discard(job.id)
        _remove(self.context.state_dir / "payloads" / f"{job.id}.pkl")
        self._changed.notify_all()

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
            self.store.update(job, "progress", "eta_seconds", "pieces_done")
            self._changed.notify_all()

    # ------------------------------------------------------------ capacity
    def _capacity(self, max_age: float) -> tuple[float, float, float]:
        """(cores, memory GB, used memory GB) of the cluster, cached for ``max_age`` seconds."""
        stamp, cores, memory, used = self._capacity_cache
        if stamp and time.monotonic() - stamp <= max_age:
            return cores, memory, used
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:
            return 0.0, 0.0, 0.0
        cores = float(sum(w.get("nthreads", 0) for w in workers.values()))
        memory = sum(w.get("memory_limit", 0) or 0 for w in workers.values()) / 1e9
        used = sum((w.get("metrics") or {}).get("memory", 0) or 0 for w in workers.values()) / 1e9
        self._capacity_cache = (time.monotonic(), cores, memory, used)
        return cores, memory, used


def _positive(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1_000_000:
        raise ValueError(f"{name} must be a number above 0 (at most 1000000), got {value!r}")
    return float(value)


def _retries(value: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"retries must be a whole number from 0 to 100, got {value!r}")
    return value


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _pickled_payload(payload: tuple[Any, ...]) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(payload)
    except Exception as exc:
        raise TypeError(
            f"the job's function or arguments cannot be pickled ({type(exc).__name__}: {exc}); "
            "pass plain data and functions, not open files, locks or connections"
        ) from None
