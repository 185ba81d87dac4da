"""JobQueue: a persistent priority queue that runs jobs on the cluster.

The façade over two parts: :mod:`~pycluster.jobs.policy` decides which queued
jobs start (priority, aging, fairness between clients, capacity; documented
there) and :class:`~pycluster.jobs.runner.JobRunner` runs started jobs' pieces.
This module holds the public API, the store of waiting jobs and the dispatcher
thread that ties them together.

The queue needs no cluster to accept, list and cancel jobs: made with ``client=None``
it stores submissions as ``queued`` (the policy's wait reason: no workers yet), and
:meth:`JobQueue.attach_client` hands it a cluster to dispatch them to;
:meth:`JobQueue.detach_client` takes it away again and queues its running jobs anew.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
import math
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from distributed import Client

from ..errors import JobDoesNotFitError, JobNotFoundError, JobRejectedError, JobStateError, StorageError
from .commit import GroupCommit
from .gates import gate, scheduled_reason
from .handle import JobHandle
from .logcapture import LOGS_TOPIC
from .model import FINISHED, Job, JobStatus, Priority, new_job_id
from .operations import OPERATIONS, OperationContext, OperationRegistry
from .payloads import PayloadStore
from .policy import (
    Capacity,
    WorkerCapacity,
    dask_priority,
    never_fits,
    pick_ahead,
    pick_next,
    waiting_reasons,
)
from .progress import PROGRESS_TOPIC
from .queue_status import QueueStatus, ResourceUsage
from .request import JobRequest
from .runner import JobRunner, remove_file
from .schedules import JobTemplate, Schedule, ScheduleStore, new_schedule_id, slot_job_id
from .storage import check_database, check_room
from .store import JobStore
from .timing import check_cron, next_slot, parse_run_at
from .waiting import WaitingJobs

__all__ = ["DATABASE_NAME", "MAX_PARENTS", "JobQueue", "QueueSettings"]

# jobs, datasets and deployments share one SQLite file in the state directory
DATABASE_NAME = "pycluster.sqlite3"

log = logging.getLogger(__name__)

# while jobs wait, the dispatcher looks at the cluster's workers at least this often (seconds),
# so a worker joining or leaving re-decides admission and the waiting reasons
WORKER_POLL = 1.0
# the dispatcher never sleeps less than this for an expiry (seconds): one sweep can fail
SWEEP_INTERVAL = 0.5
# a submission is refused as too big only if the cluster had no more than now in this many seconds
PEAK_WINDOW = 60.0
# the most parents one job may name in depends_on
MAX_PARENTS = 1000
# the longest the dispatcher rests between two looks when woken (seconds; see _loop)
MIN_TICK_GAP = 0.02
# waiting reasons are worked out on every look while at most REASONS_EVERY_LOOK jobs wait; with
# more, at most every REASONS_INTERVAL seconds (each round sorts every waiting job), and never
# more than a tenth of the dispatcher's time (100,000 waiting jobs take about a second a round).
# 64, not more: a burst of a few hundred trivial Python jobs spent most of the dispatcher's time
# sorting the waiting jobs again on every look (quadratic in the burst)
REASONS_EVERY_LOOK = 64
REASONS_INTERVAL = 1.0
# a burst of REST submissions: BURST_SUBMISSIONS of them within BURST_WINDOW seconds (200/s)
BURST_SUBMISSIONS = 50
BURST_WINDOW = 0.25
BURST_REASON = "submitted in a burst: it starts once the burst is over, or {hold:g}s after submission"
# what a queued job says while dispatch is paused (at submission and at every look)
PAUSED_REASON = "the queue is paused: resume it to start jobs"


@dataclass(frozen=True)
class QueueSettings:
    max_concurrent_jobs: int = 4
    check_interval: float = 5.0
    default_max_cores: float = 1.0
    default_max_memory_gb: float = 1.0
    default_retries: int = 3
    default_retry_backoff_s: float = 0.5
    default_result_ttl_s: float | None = None  # finished jobs are kept until deleted
    aging_interval: float = 60.0
    # small jobs handed to the cluster per worker thread ahead of a free core (jobs/handover.py);
    # 0: every job waits here until a core is free for it
    dispatch_lookahead: int = 32
    # while REST submissions arrive in a burst, jobs submitted in it wait up to this long (seconds)
    # before they start (not CRITICAL ones): see JobQueue._burst_cutoff. 0: never
    burst_hold: float = 1.0


class JobQueue:
    """Accepts, stores, orders and runs jobs; survives restarts of the process that holds it.

    ``operations`` is the registry of what jobs may run (default: ``OPERATIONS``).
    ``client`` is the cluster's Dask client, or None until :meth:`attach_client`.
    """

    def __init__(
        self,
        client: Client | None,
        state_dir: Path,
        settings: QueueSettings | None = None,
        operations: OperationRegistry | None = None,
    ) -> None:
        self.client = client
        self.settings = settings or QueueSettings()
        self.state_dir = Path(state_dir)
        self.operations = OPERATIONS if operations is None else operations
        check_database(self.state_dir / DATABASE_NAME)  # damaged: stop here, never start anew
        self.store = JobStore(self.state_dir / DATABASE_NAME)
        self.schedules = ScheduleStore(self.store)
        self._next_schedule: float | None = None  # wall clock; when the first schedule fires next
        self.context = OperationContext(self.state_dir)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._paused = threading.Event()  # dispatch held: queued jobs wait, running ones go on
        # when the last REST submissions came (monotonic), to tell a burst (_burst_cutoff)
        self._rest_arrivals: deque[float] = deque(maxlen=BURST_SUBMISSIONS)
        self.runner = JobRunner(
            client,
            self.store,
            self.operations,
            self.context,
            wake=self._wake.set,
            changed=self._changed.notify_all,
        )
        self.payloads = PayloadStore(self.store, self.state_dir / "payloads")
        self.context.read_payload = self.payloads.get
        self.runner.payloads = self.payloads
        self.checkpoints = self.runner.checkpoints
        self.results = self.runner.results
        self._waiting = WaitingJobs()
        # committed submissions the dispatcher has not taken into _waiting yet (own small lock,
        # so that a submission never waits for a dispatcher tick)
        self._arrived: dict[str, Job] = {}
        self._arrivals_lock = threading.Lock()
        self._reasons_at = 0.0  # when waiting reasons were last worked out (monotonic)
        self._reasons_every = REASONS_INTERVAL  # seconds between rounds while many jobs wait
        self._commits = GroupCommit(self._insert, self._arrive)
        self._workers_cache: tuple[float, tuple[WorkerCapacity, ...], float] = (0.0, (), 0.0)
        # (when, cores, memory GB) of the whole cluster at recent reads, for submit's refusals
        self._peaks: deque[tuple[float, float, float]] = deque(maxlen=64)
        self._next_expiry: float | None = None  # wall clock; when the sweeper has work next
        self._swept_at = 0.0  # monotonic; when the sweeper last looked
        self._next_run_at: float | None = None  # wall clock; when the first scheduled job may start
        # set once whoever owns the queue is ready for dispatching (a head: all services started)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pycluster-job-queue", daemon=True)

    # ------------------------------------------------------------ lifecycle
    def start(self, hold: bool = False) -> JobQueue:
        """Recover jobs from the store (running ones resume from checkpoints) and start dispatching;
        with ``hold``, the dispatcher waits for :meth:`dispatch_now` before its first look (a head
        holds it until all its services have started: a recovered job may need one of them)."""
        for job in self.store.with_status(JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING):
            job.status = JobStatus.QUEUED
            job.queued_at = job.queued_at or time.time()
            self.store.update(job, "status", "queued_at")
            self._waiting.add(job)
        if self.client is not None:
            self.client.subscribe_topic(PROGRESS_TOPIC, self.runner.on_progress_event)
            self.client.subscribe_topic(LOGS_TOPIC, self.runner.on_logs_event)
        self._next_schedule = self.schedules.next_due()
        if not hold:
            self._ready.set()
        self._thread.start()
        return self

    def dispatch_now(self) -> None:
        """Let a held dispatcher start (see :meth:`start`) and look at the queue at once."""
        self._ready.set()
        self._wake.set()

    def attach_client(self, client: Client) -> None:
        """Dispatch to the cluster of ``client`` from now on (the queued jobs start as it has room)."""
        with self._lock:
            if self.client is not None:
                raise JobStateError("the job queue already has a cluster: detach_client() first")
            self.client = self.runner.client = client
            self._workers_cache = (0.0, (), 0.0)
            client.subscribe_topic(PROGRESS_TOPIC, self.runner.on_progress_event)
            client.subscribe_topic(LOGS_TOPIC, self.runner.on_logs_event)
        self._wake.set()

    def detach_client(self) -> None:
        """Stop dispatching to the current cluster (it is going away); its running jobs are
        queued again and resume from their checkpoints when a cluster is attached."""
        with self._lock:
            client, self.client = self.client, None
            for job in self.runner.release():
                job.status = JobStatus.QUEUED
                self.store.update(job, "status")
                self._waiting.add(job)
            self.runner.client = None
            self._workers_cache = (0.0, (), 0.0)
            if client is not None:
                with contextlib.suppress(Exception):  # the cluster may already be gone
                    client.unsubscribe_topic(PROGRESS_TOPIC)
                    client.unsubscribe_topic(LOGS_TOPIC)

    def stop(self) -> None:
        """Stop dispatching; running jobs stay 'running' in the store and resume at the next start."""
        self._stopping.set()
        self._ready.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._commits.close()
        with self._lock:
            self.runner.write_pending()  # what the last look left (one that failed half-way)
            self.runner.stop()
            self.runner.close()
        self.store.close()

    @property
    def paused(self) -> bool:
        """Whether dispatch is held (:meth:`pause`); jobs are still accepted and queued."""
        return self._paused.is_set()

    def pause(self) -> None:
        """Start no more jobs until :meth:`resume`; running jobs go on (cancel them to stop them).
        Not kept across restarts: a head starts dispatching."""
        self._paused.set()

    def resume(self) -> None:
        """Dispatch again: queued jobs start as the cluster has room."""
        self._paused.clear()
        self._wake.set()

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
        timeout_s: float | None = None,
        retry_backoff_s: float | None = None,
        result_ttl_s: float | None = None,
        retry_of: str | None = None,
        depends_on: Iterable[str | JobHandle] | None = None,
        run_at: float | str | datetime | None = None,
        schedule_id: str | None = None,
    ) -> Job:
        """Validate and store a job; it is dispatched in priority order. The stored Job.

        ``retries`` failed attempts of a piece are retried after ``retry_backoff_s`` seconds,
        doubled per attempt, with jitter. ``result_ttl_s``: the finished job (its row, result
        and result file) is deleted that long after it finished (default: kept until deleted).
        ``depends_on``: ids (or handles) of jobs that must complete first; if one fails or is
        cancelled, this job is cancelled with that reason. ``run_at``: not before this time
        (ISO 8601, a datetime or epoch seconds)."""
        return self.submit_request(
            JobRequest(
                operation,
                parameters,
                dataset_id=dataset_id,
                priority=priority,
                max_cores=max_cores,
                max_memory_gb=max_memory_gb,
                retries=retries,
                client_id=client_id,
                kind=kind,
                job_id=job_id,
                timeout_s=timeout_s,
                retry_backoff_s=retry_backoff_s,
                result_ttl_s=result_ttl_s,
                retry_of=retry_of,
                depends_on=depends_on,
                run_at=run_at,
                schedule_id=schedule_id,
            )
        )

    def submit_request(self, request: JobRequest) -> Job:
        """:meth:`submit_job` with its options in one object."""
        job = self._checked(request, max_age=2.0)
        self._commits.commit(job)  # stored before it is acknowledged, with concurrent submissions
        return job

    async def submit_async(self, request: JobRequest) -> Job:
        """:meth:`submit_request` for a coroutine (the REST route). The common case runs on the
        caller's loop and waits for the group commit without a thread: a thread hop per request
        cost more than the rest of the submission. What may block (reading parents or a dataset,
        asking the cluster for its workers; on the head's loop that call would wait for the
        scheduler the loop itself runs) goes to a thread."""
        self._rest_arrivals.append(time.monotonic())
        if request.depends_on is not None or request.dataset_id is not None or not self._workers_fresh(2.0):
            return await asyncio.to_thread(self.submit_request, request)
        job = self._checked(request, max_age=math.inf)  # the cache, however old it got meanwhile
        await self._commits.commit_async(job)  # acknowledged only once stored, as above
        return job

    def _checked(self, request: JobRequest, max_age: float) -> Job:
        job = self._new_job(request)
        self._refuse_if_never_fits(job, max_age)
        if job.run_at is not None and job.run_at > time.time():
            # known now; the dispatcher would say the same at its next look
            job.waiting_reason = scheduled_reason(job.run_at)
        elif self._paused.is_set():
            job.waiting_reason = PAUSED_REASON
        else:
            job.waiting_reason = "just submitted: the dispatcher looks at it within a moment"
        return job

    def _arrive(self, jobs: list[Job]) -> None:
        """Committed submissions, for the dispatcher (on the committer thread). It gets copies:
        each submitter answers with its job as accepted (``pending``), whatever the dispatcher
        has done with it meanwhile."""
        with self._arrivals_lock:
            self._arrived.update((job.id, dataclasses.replace(job)) for job in jobs)
        self._wake.set()

    def _insert(self, jobs: builtins.list[Job]) -> None:
        """Store new jobs, and the payloads of Python ones, in one transaction (the group commit's
        write; StorageError, none stored, when the state directory cannot take them)."""
        check_room(self.store.path.parent)
        with self.store.transaction() as db:
            for job in jobs:
                if not self.store.insert_in(db, job):
                    raise sqlite3.IntegrityError(f"a job with id {job.id!r} exists already")
            self.payloads.insert_in(db, (job.id for job in jobs if job.kind == "python"))

    def _take_arrivals(self) -> None:
        """Move committed submissions into the waiting jobs (with the queue's lock held)."""
        with self._arrivals_lock:
            arrived, self._arrived = self._arrived, {}
        for job in arrived.values():
            self._waiting.add(job)

    def _new_job(self, request: JobRequest) -> Job:
        """A validated job, not stored yet (see :meth:`submit_job`); JobRejectedError naming the field."""
        r = request
        op = self.operations.lookup(r.operation)
        try:
            cleaned = op.validate(dict(r.parameters or {}), r.dataset_id, self.context)
            new_id = r.job_id or new_job_id()
            parents = self._check_parents(new_id, r.depends_on)
            settings = self.settings
            job = Job(
                id=new_id,
                kind=r.kind,
                operation=r.operation,
                parameters=cleaned,
                dataset_id=r.dataset_id,
                priority=Priority.parse(r.priority),
                client_id=r.client_id,
                max_cores=_positive("max_cores", r.max_cores, settings.default_max_cores),
                max_memory_gb=_positive("max_memory_gb", r.max_memory_gb, settings.default_max_memory_gb),
                max_retries=_retries(r.retries, settings.default_retries),
                timeout_s=_timeout(r.timeout_s),
                retry_backoff_s=_seconds(
                    "retry_backoff_s", r.retry_backoff_s, settings.default_retry_backoff_s, zero_ok=True
                )
                or 0.0,
                result_ttl_s=_seconds("result_ttl_s", r.result_ttl_s, settings.default_result_ttl_s),
                retry_of=r.retry_of,
                depends_on=parents,
                run_at=None if r.run_at is None else parse_run_at(r.run_at, time.time()),
                schedule_id=r.schedule_id,
            )
        except ValueError as exc:
            raise JobRejectedError(str(exc)) from None
        return job

    def _check_parents(self, job_id: str, depends_on: Iterable[str | JobHandle] | None) -> list[str]:
        """``depends_on`` as a list of existing job ids; ValueError naming the field for an unknown
        id or a cycle. A new job's id is new, so only a given ``job_id`` can close a cycle: the
        parents' ancestry is walked to be sure."""
        if depends_on is None:
            return []
        if isinstance(depends_on, (str, JobHandle)):
            depends_on = [depends_on]
        parents: list[str] = []
        for item in depends_on:
            parent = item.job_id if isinstance(item, JobHandle) else item
            if not isinstance(parent, str) or not parent:
                raise ValueError(f"depends_on must be a list of job ids, got an item {parent!r}")
            if parent not in parents:
                parents.append(parent)
        if len(parents) > MAX_PARENTS:
            raise ValueError(f"depends_on names {len(parents)} jobs; at most {MAX_PARENTS} are allowed")
        if job_id in parents:
            raise ValueError(f"depends_on: job {job_id} cannot depend on itself (a cycle)")
        known = self.store.statuses(parents)
        with self._lock:
            known.update((p, (j.status, None)) for p in parents if (j := self._waiting.get(p)) is not None)
        unknown = [p for p in parents if p not in known]
        if unknown:
            raise ValueError(f"depends_on: no job with id {', '.join(map(repr, unknown[:5]))}")
        # ancestors of the parents, level by level: the new job among them is a cycle
        seen, level = set(parents), parents
        while level:
            above = {a for ancestors in self.store.parents(level).values() for a in ancestors}
            if job_id in above:
                raise ValueError(f"depends_on: job {job_id} is an ancestor of its own parents (a cycle)")
            level = [a for a in above if a not in seen]
            seen.update(level)
        return parents

    def _refuse_if_never_fits(self, job: Job, max_age: float) -> None:
        workers, _ = self._workers(max_age)  # a fresh RPC per submit would cost ~ms each
        reason = never_fits(job, Capacity(workers))
        if reason is None:
            return
        # judged against the most the cluster had lately, not this moment: a worker that is being
        # started again (a cancelled job's piece ends its process) must not get a job refused
        # that fits the whole cluster; such a job waits, saying why, if it really never fits
        recent = [
            (cores, memory)
            for stamp, cores, memory in list(self._peaks)
            if time.monotonic() - stamp < PEAK_WINDOW
        ]
        if recent:
            peak = WorkerCapacity(max(c for c, _ in recent), max(m for _, m in recent))
            if never_fits(job, Capacity((peak,))) is None:
                return
        raise JobDoesNotFitError(reason)

    def submit(
        self,
        func: Callable[..., Any],
        *args: Any,
        priority: Priority | str | int = Priority.NORMAL,
        max_cores: float | None = None,
        max_memory_gb: float | None = None,
        retries: int | None = None,
        client_id: str = "python",
        timeout_s: float | None = None,
        retry_backoff_s: float | None = None,
        result_ttl_s: float | None = None,
        depends_on: Iterable[str | JobHandle] | None = None,
        run_at: float | str | datetime | None = None,
        **kwargs: Any,
    ) -> JobHandle:
        """Run ``func(*args, **kwargs)`` as a job (Python only, never over REST); a JobHandle.

        ``timeout_s``: a piece on the cluster longer than this fails the job, and its worker
        process is restarted so the code really stops (default: no limit). ``retry_backoff_s``,
        ``result_ttl_s``, ``depends_on`` and ``run_at`` as in :meth:`submit_job`."""
        return self._submit_python(
            "python.call",
            (func, args, kwargs),
            priority,
            max_cores,
            max_memory_gb,
            retries,
            client_id,
            timeout_s,
            retry_backoff_s,
            result_ttl_s,
            depends_on,
            run_at,
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
        timeout_s: float | None = None,
        retry_backoff_s: float | None = None,
        result_ttl_s: float | None = None,
        depends_on: Iterable[str | JobHandle] | None = None,
        run_at: float | str | datetime | None = None,
        **kwargs: Any,
    ) -> JobHandle:
        """One job that applies ``func`` to each item: progress per item, retries and
        checkpoints per item; ``result()`` is the list of results in order. ``timeout_s``
        limits each item's piece, as in :meth:`submit`."""
        return self._submit_python(
            "python.map",
            (func, list(items), kwargs),
            priority,
            max_cores,
            max_memory_gb,
            retries,
            client_id,
            timeout_s,
            retry_backoff_s,
            result_ttl_s,
            depends_on,
            run_at,
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
        timeout_s: float | None,
        retry_backoff_s: float | None = None,
        result_ttl_s: float | None = None,
        depends_on: Iterable[str | JobHandle] | None = None,
        run_at: float | str | datetime | None = None,
    ) -> JobHandle:
        job_id = new_job_id()
        # written with the job's row, in its transaction (jobs/payloads.py)
        self.payloads.keep(job_id, _pickled_payload(payload))
        request = JobRequest(
            operation,
            {},
            priority=priority,
            max_cores=max_cores,
            max_memory_gb=max_memory_gb,
            retries=retries,
            client_id=client_id,
            kind="python",
            job_id=job_id,
            timeout_s=timeout_s,
            retry_backoff_s=retry_backoff_s,
            result_ttl_s=result_ttl_s,
            depends_on=depends_on,
            run_at=run_at,
        )
        try:
            job = self._checked(request, max_age=2.0)
            # stored before it is acknowledged, in one transaction on the caller's thread: the
            # group commit's thread gathers concurrent REST submissions, and the hop there and
            # back cost a Python job more than its write (a caller's thread submits one at a time)
            self._insert([job])
            self._arrive([job])
        except BaseException:
            self.payloads.forget_unwritten(job_id)
            raise
        return JobHandle(self, job_id)

    # ------------------------------------------------------------ cron schedules
    def add_schedule(self, cron: str, template: JobTemplate) -> Schedule:
        """Submit ``template``'s job at every slot of ``cron`` (five fields, or six with seconds
        last; UTC), from the next slot on. JobRejectedError naming the field for a bad expression
        or a job spec that would be refused."""
        try:
            expression = check_cron(cron)
        except ValueError as exc:
            raise JobRejectedError(str(exc)) from None
        self._job_for(template, job_id=None, schedule_id=None)  # refused now, not at every slot
        now = time.time()
        schedule = Schedule(
            new_schedule_id(), expression, template, next_slot(expression, now), created_at=now
        )
        self.schedules.add(schedule)
        with self._lock:
            self._next_schedule = self.schedules.next_due()
        self._wake.set()
        return schedule

    def get_schedule(self, schedule_id: str) -> Schedule:
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            raise JobNotFoundError(f"no schedule with id {schedule_id!r}")
        return schedule

    def list_schedules(self) -> list[Schedule]:
        return self.schedules.all()

    def delete_schedule(self, schedule_id: str) -> Schedule:
        """Stop a schedule (the jobs it fired stay); the schedule as it was."""
        schedule = self.get_schedule(schedule_id)
        if not self.schedules.delete(schedule_id):
            raise JobNotFoundError(f"no schedule with id {schedule_id!r}")
        return schedule

    def _job_for(self, template: JobTemplate, job_id: str | None, schedule_id: str | None) -> Job:
        return self._new_job(
            JobRequest(
                template.operation,
                template.parameters,
                dataset_id=template.dataset_id,
                priority=template.priority,
                max_cores=template.max_cores,
                max_memory_gb=template.max_memory_gb,
                retries=template.retries,
                client_id=template.client_id,
                job_id=job_id,
                timeout_s=template.timeout_s,
                retry_backoff_s=template.retry_backoff_s,
                result_ttl_s=template.result_ttl_s,
                schedule_id=schedule_id,
            )
        )

    def _fire_schedules(self) -> None:
        """Submit the job of every schedule whose slot has come (see :mod:`~pycluster.jobs.schedules`
        for why no slot fires twice); a slot whose job cannot be made is skipped with the reason."""
        now = time.time()
        if self._next_schedule is None or self._next_schedule > now:
            return
        pause = _fire_pause()
        for schedule in self.schedules.due(now):
            slot = schedule.next_run_at
            job: Job | None = None
            error = None
            try:
                job = self._job_for(schedule.template, slot_job_id(schedule.id, slot), schedule.id)
                job.run_at = slot  # which slot fired it (may be late: the head was down)
                job.waiting_reason = "just fired by its schedule"
            except (JobRejectedError, JobNotFoundError) as exc:
                error = f"slot {slot:.0f} skipped: {exc}"
                log.warning("schedule %s: %s", schedule.id, error)
            if pause:
                log.warning(
                    "schedule %s: pausing %g s in the middle of firing slot %r", schedule.id, pause, slot
                )
            fired = self.schedules.fire(schedule, job, next_slot(schedule.cron, max(now, slot)), error, pause)
            if fired and job is not None and job.seq:  # seq: stored now, not by an earlier firing
                self._waiting.add(job)
                log.info("schedule %s fired job %s for slot %r", schedule.id, job.id, slot)
        self._next_schedule = self.schedules.next_due()

    # ------------------------------------------------------------ read and cancel
    def get(self, job_id: str) -> Job:
        # no queue lock: a status read must not wait for a dispatcher tick. The dicts are read
        # one lookup at a time; a job between two of them is found in the store.
        job = self._live(job_id) or self._arrived.get(job_id) or self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return job

    def load_result(self, job: Job) -> Any:
        """A completed job's result, from the row or from its result file."""
        return self.results.load(job)

    def list(
        self, status: JobStatus | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[int, list[Job]]:
        total, jobs = self.store.list(status, limit, offset)
        return total, [self._freshest(j) for j in jobs]

    def search(
        self, statuses: Iterable[JobStatus] = (), text: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, builtins.list[Job]]:
        """Jobs in any of ``statuses`` (all when empty) with ``text`` in their id, operation,
        client or error, newest first: the total and one page."""
        total, jobs = self.store.search(statuses, text, limit, offset)
        return total, [self._freshest(j) for j in jobs]

    def _freshest(self, job: Job) -> Job:
        return self._live(job.id) or self._arrived.get(job.id, job)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; JobStateError (409) for a finished one."""
        with self._lock:
            self._take_arrivals()
            job = self.get(job_id)
            if job.status in FINISHED:
                raise JobStateError(
                    f"job {job_id} is already {job.status.value}; "
                    "only queued or running jobs can be cancelled"
                )
            self._waiting.remove(job_id)
            job.waiting_reason = None
            self.runner.cancel(job_id)
            self.runner.finish(job, JobStatus.CANCELLED, error=job.error)
            self.runner.write_pending()
        self._wake.set()  # its result_ttl_s runs from now: the sweeper looks again
        return job

    def retry(self, job_id: str) -> Job:
        """Submit a failed or cancelled job again with the same spec; the new job (its
        ``retry_of`` names the old one). JobStateError (409) for any other job."""
        old = self.get(job_id)
        if old.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(
                f"job {job_id} is {old.status.value}; only failed or cancelled jobs can be retried"
            )
        if old.kind != "operation":
            raise JobStateError(
                f"job {job_id} ran Python code, which is not kept after it ends; submit it again from Python"
            )
        return self.submit_job(
            old.operation,
            old.parameters,
            dataset_id=old.dataset_id,
            priority=old.priority,
            max_cores=old.max_cores,
            max_memory_gb=old.max_memory_gb,
            retries=old.max_retries,
            client_id=old.client_id,
            timeout_s=old.timeout_s,
            retry_backoff_s=old.retry_backoff_s,
            result_ttl_s=old.result_ttl_s,
            retry_of=old.id,
            depends_on=old.depends_on,
        )

    def delete(self, job_id: str) -> Job:
        """Forget a finished job: its row, result file, checkpoints and payload; the job as it
        was. JobStateError (409) for a queued or running one: cancel it first."""
        with self._lock:
            job = self.get(job_id)
            if job.status not in FINISHED:
                raise JobStateError(
                    f"job {job_id} is {job.status.value}; cancel it first (POST "
                    f"/api/processing/jobs/{job_id}/cancel, or pycluster jobs cancel {job_id}), "
                    "then delete it"
                )
            self._forget(job)
        return job

    def _forget(self, job: Job) -> None:
        self.store.delete(job.id)
        self.checkpoints.discard(job.id)
        self.runner.logs.discard(job.id)
        if job.kind == "python":
            self.payloads.discard([job.id])
        if job.result_path is not None and _inside(Path(job.result_path), self.state_dir):
            remove_file(Path(job.result_path))  # a result file is ours; never a file outside

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

    def status(self) -> QueueStatus:
        """Totals by status, waiting jobs by priority, and cluster resource usage."""
        by_status: Counter[str] = Counter()
        for (status, _), n in self.store.counts().items():
            by_status[status] += n
        with self._lock:
            waiting = Counter(j.priority.name for j in self._waiting.values())
            running = self.runner.reservations()
        workers, used_gb = self._workers(max_age=1.0)
        cluster = Capacity(workers)
        resources = ResourceUsage(
            total_memory_gb=cluster.total_memory_gb,
            used_memory_gb=used_gb,
            total_cores=cluster.total_cores,
            reserved_cores=sum(r.cores for r in running),
            reserved_memory_gb=sum(r.memory_gb for r in running),
        )
        return QueueStatus(
            self._thread.is_alive(), by_status, waiting, self.settings.max_concurrent_jobs, resources
        )

    def queue_status(self) -> dict[str, Any]:
        """:meth:`status` as the processing document's dict."""
        return self.status().to_dict()

    # ------------------------------------------------------------ dispatcher
    def _loop(self) -> None:
        self._ready.wait()
        last, took = 0.0, 0.0
        while not self._stopping.is_set():
            self._wake.wait(self._sleep_time())
            # rest as long as the last look took (at most MIN_TICK_GAP): a burst of submissions
            # gathers into one look, and looks never take more than half the dispatcher's time
            gap = min(MIN_TICK_GAP, took) - (time.monotonic() - last)
            if gap > 0:
                self._stopping.wait(gap)
            self._wake.clear()
            last = time.monotonic()
            try:
                with self._lock:
                    self._tick()
            except Exception:  # a bad job must never stop the queue
                log.exception("job queue tick failed")
            took = time.monotonic() - last

    def _sleep_time(self) -> float:
        """Until the next check, or until the first running piece passes its time limit."""
        with self._lock:
            deadline = self.runner.next_deadline()
            waiting = bool(self._waiting)
            expiry = self._next_expiry
        if expiry is not None:  # wall clock, unlike the runner's deadlines
            expiry_at = time.monotonic() + max(SWEEP_INTERVAL, expiry - time.time())
            deadline = expiry_at if deadline is None else min(deadline, expiry_at)
        for wall in (self._next_run_at, self._next_schedule):
            if wall is not None:
                at = time.monotonic() + max(0.0, wall - time.time())
                deadline = at if deadline is None else min(deadline, at)
        interval = min(self.settings.check_interval, WORKER_POLL) if waiting else self.settings.check_interval
        if waiting and self._burst_cutoff(time.time()) is not None:
            interval = min(interval, BURST_WINDOW)  # held jobs start when the burst ends
        if deadline is None:
            return interval
        return max(0.01, min(interval, deadline - time.monotonic() + 0.01))

    def _tick(self) -> None:
        self.store.flush()  # what a full or read-only state directory held back
        self.runner.drain_events()
        self.runner.check_deadlines()
        self._take_arrivals()
        self._fire_schedules()
        self._promote_pending()
        self._admit()
        self.runner.feed()
        self._sweep()
        self.runner.write_pending()

    def _sweep(self) -> None:
        """Delete the finished jobs whose ``result_ttl_s`` has run out, with their result files.

        When the earliest known expiry has come (the dispatcher wakes then, :meth:`_sleep_time`),
        and at least every SWEEP_INTERVAL seconds for jobs that finished since (their expiry is
        not known here yet): not on every tick, where its two look-ups cost a tenth of the
        dispatcher's time while trivial jobs stream through. Both use the ``expires_at`` index."""
        now = time.time()
        due = self._next_expiry is not None and self._next_expiry <= now
        if not due and time.monotonic() - self._swept_at < SWEEP_INTERVAL:
            return
        self._swept_at = time.monotonic()
        try:
            for job in self.store.expired(now):
                self._forget(job)
                log.info("job %s expired (result_ttl_s=%g): deleted", job.id, job.result_ttl_s)
            self._next_expiry = self.store.next_expiry()
        except StorageError as exc:  # a read-only state directory: try again next sweep
            log.warning("could not delete expired jobs: %s", exc)

    def _promote_pending(self) -> None:
        pending = [job for job in self._waiting.take_pending() if job.status == JobStatus.PENDING]
        now = time.time()
        for job in pending:
            job.status, job.queued_at = JobStatus.QUEUED, now
            self.runner.write(job)  # with the look's other writes, in one transaction

    def _admit(self) -> None:
        """Start what fits now, then say for every job still waiting why it waits.

        Runs on every tick, and ticks come at least every :data:`WORKER_POLL` seconds while jobs
        wait: a worker that joins or leaves is seen within that, and the waiting jobs' admission
        and reasons are decided again (one that no worker can hold says so instead of waiting
        silently; it starts once a big enough worker joins)."""
        self._next_run_at = None
        if not self._waiting:
            return
        now = time.time()
        held = self._gate(now)
        if self._paused.is_set():  # parents and run_at still decide (and cancel); nothing starts
            for job in self._waiting.values():
                job.waiting_reason = held.get(job.id) or PAUSED_REASON
            return
        capacity = self._capacity(max_age=1.0)
        cutoff = self._burst_cutoff(now)
        if len(self.runner) < self.settings.max_concurrent_jobs:
            candidates = self._waiting.candidates(
                capacity.free_slots, capacity.free_cores, capacity.free_memory_gb
            )
            candidates = _outside_burst(candidates, cutoff)
            decision = pick_next(candidates, capacity, now, aging_interval=self.settings.aging_interval)
            ahead = self._lookahead(capacity)
            load = Counter(r.client_id for r in capacity.running)
            aging = self.settings.aging_interval
            for job in decision.start:
                self._waiting.remove(job.id)
                job.waiting_reason = None
                priority = dask_priority(job, now, load[job.client_id], aging)
                load[job.client_id] += 1
                self.runner.start(job, handed=bool(ahead) and self._small(job), dask_priority=priority)
            if any(job.id not in self.runner for job in decision.start):
                self._wake.set()  # one ended at once (nothing to run, or could not plan): its slot is free
            capacity = decision.left
        self._hand_over(capacity, now, cutoff)
        for job in self._waiting.gated():
            job.waiting_reason = held.get(job.id)
        many = len(self._waiting) > REASONS_EVERY_LOOK
        if many and time.monotonic() - self._reasons_at < self._reasons_every:
            return  # new jobs say "just submitted" until the next round
        self._reasons_at = started = time.monotonic()
        ready = self._waiting.ready()
        reasons = waiting_reasons(ready, capacity, now, aging_interval=self.settings.aging_interval)
        burst = BURST_REASON.format(hold=self.settings.burst_hold)
        for job in ready:
            in_burst = cutoff is not None and _held_for_burst(job, cutoff)
            job.waiting_reason = burst if in_burst else reasons.get(job.id)
        self._reasons_every = max(REASONS_INTERVAL, 10 * (time.monotonic() - started))

    def _burst_cutoff(self, now: float) -> float | None:
        """While REST submissions arrive in a burst (:data:`BURST_SUBMISSIONS` within the last
        :data:`BURST_WINDOW` seconds): jobs created after the returned time wait (CRITICAL ones
        excepted); None when there is no burst, or ``burst_hold`` is 0.

        Jobs that run take the head's CPU from the submissions that arrive: the scheduler that
        runs them shares the event loop (and the GIL) with the web server. With 2,000 trivial
        jobs from 20 clients, starting them as they came cut the head to ~700 submissions/s
        with a p99 of 55-60 ms; held, it answered ~2,000/s with a p99 of 20-26 ms, and the
        burst's jobs then ran at the cluster's full rate. A job waits at most ``burst_hold``
        seconds for it, however long the burst: under endless load they start at the same
        rate, that much later."""
        hold = self.settings.burst_hold
        arrivals = self._rest_arrivals
        if not hold or len(arrivals) < BURST_SUBMISSIONS:
            return None
        if time.monotonic() - arrivals[0] > BURST_WINDOW:
            return None  # fewer than BURST_SUBMISSIONS in the last window: no burst (any more)
        return now - hold

    def _lookahead(self, capacity: Capacity) -> int:
        """How many small jobs per priority level may wait on the cluster ahead of a free core:
        ``dispatch_lookahead`` per worker thread; none where fewer jobs may run at once than the
        cluster has threads (the cluster would run more of them at once than allowed)."""
        cores = capacity.total_cores
        if not cores or self.settings.max_concurrent_jobs < cores:
            return 0
        return max(0, math.floor(self.settings.dispatch_lookahead * cores))

    def _small(self, job: Job) -> bool:
        """A job for the look-ahead: one core at most and no more than the default memory."""
        return job.max_cores <= 1 and job.max_memory_gb <= self.settings.default_max_memory_gb

    def _hand_over(self, capacity: Capacity, now: float, cutoff: float | None) -> None:
        """Hand small jobs to the cluster ahead of a free core, in dispatch order (see
        :func:`~pycluster.jobs.policy.pick_ahead`): they stay queued until a worker starts them."""
        limit = self._lookahead(capacity)
        if not limit or not self._waiting:
            return
        candidates = _outside_burst(self._waiting.candidates(limit, math.inf, math.inf), cutoff)
        handed = self.runner.handed()
        aging = self.settings.aging_interval
        chosen = pick_ahead(candidates, capacity, handed, limit, now, small=self._small, aging_interval=aging)
        for job, priority in chosen:
            self._waiting.remove(job.id)
            self.runner.start(job, handed=True, dask_priority=priority)
        if any(job.id not in self.runner for job, _ in chosen):
            self._wake.set()  # one ended at once (nothing to run, or could not plan)

    def _gate(self, now: float) -> dict[str, str]:
        """Why each waiting job that may not start yet waits (parents, ``run_at``); cancels those
        whose parent failed or was cancelled, and their dependents in turn."""
        while True:
            waiting = self._waiting.gated()
            wanted = {p for job in waiting for p in job.depends_on}
            states = {p: (j.status, j.error) for p in wanted if (j := self._live(p)) is not None}
            states.update(self.store.statuses(p for p in wanted if p not in states))
            gated = gate(waiting, states, now)
            for job, why in gated.cancel:
                self._waiting.remove(job.id)
                job.waiting_reason = None
                self.runner.finish(job, JobStatus.CANCELLED, error=why)
            if not gated.cancel:  # else: their own dependents are cancelled on the next pass
                for job in waiting:
                    if job.id not in gated.held:
                        self._waiting.release(job)
                self._next_run_at = gated.next_run_at
                return gated.held

    def _live(self, job_id: str) -> Job | None:
        """The in-memory record of a waiting or running job (fresher than its row)."""
        return self._waiting.get(job_id) or self.runner.get(job_id)

    # ------------------------------------------------------------ capacity
    def _capacity(self, max_age: float) -> Capacity:
        workers, _ = self._workers(max_age)
        return Capacity(workers, self.runner.reservations(), self.settings.max_concurrent_jobs)

    def _workers_fresh(self, max_age: float) -> bool:
        """Whether :meth:`_workers` would answer from its cache (no call to the cluster)."""
        stamp = self._workers_cache[0]
        return bool(stamp) and time.monotonic() - stamp <= max_age

    def _workers(self, max_age: float) -> tuple[tuple[WorkerCapacity, ...], float]:
        """The cluster's workers and their used memory in GB, cached for ``max_age`` seconds."""
        stamp, workers, used = self._workers_cache
        if stamp and time.monotonic() - stamp <= max_age:
            return workers, used
        client = self.client
        if client is None:
            return (), 0.0
        try:
            info = client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:
            return (), 0.0
        workers = tuple(
            WorkerCapacity(float(w.get("nthreads", 0)), (w.get("memory_limit", 0) or 0) / 1e9)
            for w in info.values()
        )
        used = sum((w.get("metrics") or {}).get("memory", 0) or 0 for w in info.values()) / 1e9
        self._workers_cache = (time.monotonic(), workers, used)
        cluster = Capacity(workers)
        self._peaks.append((time.monotonic(), cluster.total_cores, cluster.total_memory_gb))
        return workers, used


def _held_for_burst(job: Job, cutoff: float) -> bool:
    """Whether ``job`` waits for a burst of submissions to pass (see ``JobQueue._burst_cutoff``)."""
    return job.priority < Priority.CRITICAL and job.created_at > cutoff


def _outside_burst(candidates: list[Job], cutoff: float | None) -> list[Job]:
    """``candidates`` less those waiting for a burst to pass (all of them when there is none)."""
    if cutoff is None:
        return candidates
    return [job for job in candidates if not _held_for_burst(job, cutoff)]


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


def _timeout(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"timeout_s must be a finite number of seconds above 0, got {value!r}")
    return float(value)


def _seconds(name: str, value: float | None, default: float | None, zero_ok: bool = False) -> float | None:
    if value is None:
        return default
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if not number or not (value >= 0 if zero_ok else value > 0) or value == math.inf:
        bound = "0 or more" if zero_ok else "above 0"
        raise ValueError(f"{name} must be a finite number of seconds, {bound}, got {value!r}")
    return float(value)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _pickled_payload(payload: tuple[Any, ...]) -> bytes:
    import cloudpickle

    try:
        pickled: bytes = cloudpickle.dumps(payload)
    except Exception as exc:
        raise TypeError(
            f"the job's function or arguments cannot be pickled ({type(exc).__name__}: {exc}); "
            "pass plain data and functions, not open files, locks or connections"
        ) from None
    return pickled


# seconds to wait in the middle of firing a schedule (after its job is written, before the
# schedule moves on, in one transaction): only for the test that kills a head right there
FIRE_PAUSE_ENV = "PYCLUSTER_TEST_FIRE_PAUSE_S"


def _fire_pause() -> float:
    import os

    try:
        return max(0.0, float(os.environ.get(FIRE_PAUSE_ENV, "0")))
    except ValueError:
        return 0.0
