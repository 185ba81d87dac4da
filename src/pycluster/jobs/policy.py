"""The scheduling policy: which queued jobs start now. Pure: no threads, no Dask, no SQLite.

Dispatch order (documented in docs/how-to/job-queue.md):

1. *Level* = priority + one level per ``aging_interval`` spent waiting, so a stream
   of HIGH jobs cannot starve a LOW job forever (it reaches CRITICAL's level after
   three intervals).
2. Within a level, the client with the fewest running jobs goes first, so one
   client's thousand jobs cannot block another client's single job.
3. Then first come, first served.

A job starts only while fewer than ``max_concurrent`` jobs run and its
``max_cores`` / ``max_memory_gb`` fit in what running jobs have not reserved;
smaller jobs further down may start while a bigger one waits (backfill).

Look-ahead (:func:`pick_ahead`): besides the jobs that fit in what is free, up to
``limit`` small jobs (at most one core, no more than the default memory) at each priority and
above may wait on the cluster itself, handed over in the same order, so a worker starts the
next one the moment it finishes one. A job that needs more stops the look-ahead at its place
in the order: the jobs behind it are not handed over, so it starts once its cores are free.

A job's pieces spread over all workers, so what a job can never fit is more than
the *whole cluster* has, not more than one worker has.

>>> from pycluster.jobs.model import Job, Priority
>>> low = Job("a", "operation", "echo", priority=Priority.LOW, queued_at=0.0, seq=1)
>>> high = Job("b", "operation", "echo", priority=Priority.HIGH, queued_at=0.0, seq=2)
>>> capacity = Capacity(workers=(WorkerCapacity(cores=1, memory_gb=4),), max_concurrent=1)
>>> [job.id for job in pick_next([low, high], capacity, now=1.0).start]
['b']
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from .model import Job, Priority

__all__ = [
    "Capacity",
    "Decision",
    "Running",
    "WorkerCapacity",
    "dask_priority",
    "level",
    "never_fits",
    "pick_ahead",
    "pick_next",
    "waiting_reasons",
]

_SLACK = 1e-9  # float sums of reservations must not make an exact fit look too big


@dataclass(frozen=True)
class WorkerCapacity:
    """What one worker offers: threads (cores) and its memory limit."""

    cores: float
    memory_gb: float


@dataclass(frozen=True)
class Running:
    """What a running job has reserved, and for which client."""

    client_id: str
    cores: float
    memory_gb: float


@dataclass(frozen=True)
class Capacity:
    """The cluster's workers, the jobs running on it and the limit on concurrent jobs."""

    workers: tuple[WorkerCapacity, ...] = ()
    running: tuple[Running, ...] = ()
    max_concurrent: int = 4

    # cached: never_fits asks for them once per waiting job, and thousands may wait
    @cached_property
    def total_cores(self) -> float:
        return float(sum(w.cores for w in self.workers))

    @cached_property
    def total_memory_gb(self) -> float:
        return float(sum(w.memory_gb for w in self.workers))

    @cached_property
    def free_cores(self) -> float:
        return self.total_cores - sum(r.cores for r in self.running)

    @cached_property
    def free_memory_gb(self) -> float:
        return self.total_memory_gb - sum(r.memory_gb for r in self.running)

    @cached_property
    def free_slots(self) -> int:
        return self.max_concurrent - len(self.running)


@dataclass(frozen=True)
class Decision:
    """What to do now: ``start`` (in order); the rest wait, ``unfittable`` ones for good."""

    start: tuple[Job, ...]
    unfittable: tuple[tuple[Job, str], ...]
    left: Capacity = field(default_factory=Capacity)  # the capacity once ``start`` runs

    def reason(self, job: Job) -> str | None:
        """Why ``job`` is not in ``start``; None when it is."""
        if any(j.id == job.id for j in self.start):
            return None
        return never_fits(job, self.left) or _why_waiting(job, self.left)


def level(job: Job, now: float, aging_interval: float) -> int:
    """The job's priority plus one per ``aging_interval`` it has waited."""
    waited = now - (job.queued_at or job.created_at)
    return int(job.priority) + int(waited // aging_interval)


def never_fits(job: Job, capacity: Capacity) -> str | None:
    """Why ``job`` can never run on these workers, or None. Unknown workers (none yet) fit anything."""
    cores, memory_gb = capacity.total_cores, capacity.total_memory_gb
    if cores and job.max_cores > cores:
        return (
            f"max_cores={job.max_cores:g} is more than the whole cluster has ({cores:g} cores); "
            "lower max_cores or add workers"
        )
    if memory_gb and job.max_memory_gb > memory_gb:
        return (
            f"max_memory_gb={job.max_memory_gb:g} is more than the whole cluster has "
            f"({memory_gb:.2f} GB); lower max_memory_gb or add workers"
        )
    return None


def pick_next(
    queued: Iterable[Job], capacity: Capacity, now: float, *, aging_interval: float = 60.0
) -> Decision:
    """The queued jobs to start at ``now`` (wall-clock seconds), best first, and those that never fit.

    One heap of all waiting jobs per call, not one pass per free slot: thousands may wait. A
    job's key only gets worse while jobs are picked (its client gains running jobs), so a popped
    job whose key is still what it was is the best; one whose key went up goes back in. A job
    that does not fit now fits no better later in the same call (capacity only shrinks)."""
    waiting = list(queued)
    unfittable = tuple((j, why) for j in waiting if (why := never_fits(j, capacity)) is not None)
    running_by_client = Counter(r.client_id for r in capacity.running)

    def key(job: Job) -> tuple[int, int, int]:
        return (-level(job, now, aging_interval), running_by_client[job.client_id], job.seq)

    heap = [(key(job), i) for i, job in enumerate(waiting)]
    heapq.heapify(heap)
    start: list[Job] = []
    left = capacity
    free_cores, free_gb = left.free_cores, left.free_memory_gb
    while heap and left.free_slots > 0:
        stored, i = heapq.heappop(heap)
        job = waiting[i]
        current = key(job)
        if current != stored:
            heapq.heappush(heap, (current, i))
            continue
        if job.max_cores > free_cores + _SLACK or job.max_memory_gb > free_gb + _SLACK:
            continue
        start.append(job)
        running_by_client[job.client_id] += 1
        free_cores -= job.max_cores
        free_gb -= job.max_memory_gb
        left = _with_running(left, job)
    return Decision(tuple(start), unfittable, left)


def pick_ahead(
    queued: Iterable[Job],
    capacity: Capacity,
    handed: Iterable[Job],
    limit: int,
    now: float,
    *,
    small: Callable[[Job], bool],
    aging_interval: float = 60.0,
) -> tuple[tuple[Job, int], ...]:
    """The queued jobs to hand to the cluster ahead of a free core, best first, each with the
    Dask priority to submit it with (:func:`dask_priority`).

    ``handed`` are the jobs handed over that have not started yet. A job is handed over while
    fewer than ``limit`` of them come before it in dispatch order: a HIGH job, or the single
    job of a client with nothing running, submitted while others fill the look-ahead still goes,
    and its Dask priority makes the cluster start it before them. The first job in order that
    is not ``small`` ends the look-ahead (it waits for its cores under the strict rule,
    :func:`pick_next`).

    >>> from pycluster.jobs.model import Job, Priority
    >>> jobs = [Job(str(i), "operation", "echo", queued_at=0.5, seq=i) for i in range(4)]
    >>> critical = Job("c", "operation", "echo", priority=Priority.CRITICAL, queued_at=0.5, seq=9)
    >>> two = Capacity(workers=(WorkerCapacity(cores=2, memory_gb=4),))
    >>> [j.id for j, _ in pick_ahead([*jobs[2:], critical], two, jobs[:2], 2, 1.0, small=lambda j: True)]
    ['c']
    """
    load = Counter(r.client_id for r in capacity.running)
    # a client's jobs handed over in one call share one Dask priority (the cluster keeps them in
    # submission order anyway), so the runner submits them in one Client.map
    before = Counter(load)

    def key(job: Job) -> tuple[int, int, int]:
        return (-level(job, now, aging_interval), load[job.client_id], job.seq)

    ahead = sorted(key(job) for job in handed)
    chosen: list[tuple[Job, int]] = []
    for job in sorted(queued, key=key):
        if never_fits(job, capacity) is not None:
            continue
        if not small(job):
            break
        own = key(job)
        if bisect.bisect_left(ahead, own) >= limit:
            continue  # enough wait on the cluster before it; a later job may still pass them
        chosen.append((job, dask_priority(job, now, before[job.client_id], aging_interval)))
        load[job.client_id] += 1
        bisect.insort(ahead, own)
    return tuple(chosen)


def dask_priority(job: Job, now: float, client_load: int, aging_interval: float = 60.0) -> int:
    """The Dask priority of ``job``'s pieces: 1000 per level, plus up to 500 more the fewer jobs
    its client has on the cluster, so the cluster orders what was handed to it as the
    dispatcher would have (priority and aging first, then fairness between clients).

    >>> from pycluster.jobs.model import Job, Priority
    >>> high = Job("h", "operation", "echo", priority=Priority.HIGH, queued_at=0.5)
    >>> dask_priority(high, 1.0, 0), dask_priority(high, 1.0, 3)
    (2500, 2125)
    """
    return 1000 * level(job, now, aging_interval) + 500 // (1 + client_load)


def waiting_reasons(
    queued: Iterable[Job], left: Capacity, now: float, *, aging_interval: float = 60.0
) -> dict[str, str]:
    """Why each job in ``queued`` waits, by job id, given ``left`` (the capacity once the jobs
    started now run): "can never start ..." for a job these workers cannot hold, "no workers",
    the slot limit or the resources it lacks, and how many jobs are ahead of it at which levels.

    One sort for all of them, so thousands of waiting jobs cost milliseconds.
    """
    running_by_client = Counter(r.client_id for r in left.running)
    order = sorted(
        queued, key=lambda j: (-level(j, now, aging_interval), running_by_client[j.client_id], j.seq)
    )
    reasons: dict[str, str] = {}
    ahead: Counter[str] = Counter()
    for job in order:
        why = never_fits(job, left)
        if why is not None:
            reasons[job.id] = f"can never start on the workers connected now: {why}"
            continue
        why = _why_waiting(job, left)
        # with no workers, which jobs are ahead does not matter yet
        reasons[job.id] = _ahead(ahead, why) if ahead and left.workers else why
        ahead[job.priority.name] += 1
    return reasons


def _ahead(ahead: Counter[str], why: str) -> str:
    levels = sorted(ahead.items(), key=lambda kv: -Priority[kv[0]])
    by_level = ", ".join(f"{n} at {name}" for name, n in levels)
    total = sum(ahead.values())
    jobs = "job" if total == 1 else "jobs"
    # a job that fits and only waits its turn says just that
    if why == _YOUR_TURN:
        return f"{total} {jobs} ahead of it ({by_level})"
    return f"{why}; {total} {jobs} ahead of it ({by_level})"


def _with_running(capacity: Capacity, job: Job) -> Capacity:
    reservation = Running(job.client_id, job.max_cores, job.max_memory_gb)
    return Capacity(capacity.workers, (*capacity.running, reservation), capacity.max_concurrent)


def _why_waiting(job: Job, capacity: Capacity) -> str:
    if capacity.free_slots <= 0:
        return f"{capacity.max_concurrent} jobs are running, the most allowed at once"
    if not capacity.workers:
        return "no workers are connected yet"
    if job.max_cores > capacity.free_cores + _SLACK:
        return f"needs {job.max_cores:g} cores; {max(0.0, capacity.free_cores):g} are free"
    if job.max_memory_gb > capacity.free_memory_gb + _SLACK:
        return f"needs {job.max_memory_gb:g} GB; {max(0.0, capacity.free_memory_gb):.2f} GB are free"
    return _YOUR_TURN


_YOUR_TURN = "jobs ahead of it in priority order start first"
