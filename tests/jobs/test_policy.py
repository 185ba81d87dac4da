"""The scheduling policy on its own: no cluster, no threads, no sleeps; the clock is an argument."""

from __future__ import annotations

from itertools import count

import pytest

from pycluster.jobs.model import Job, Priority
from pycluster.jobs.policy import Capacity, Running, WorkerCapacity, level, never_fits, pick_next

AGING = 60.0
_seq = count(1)


def job(
    name: str,
    priority: Priority = Priority.NORMAL,
    *,
    queued_at: float = 0.0,
    client: str = "default",
    cores: float = 1.0,
    memory_gb: float = 1.0,
) -> Job:
    return Job(
        id=name,
        kind="operation",
        operation="echo",
        priority=priority,
        client_id=client,
        max_cores=cores,
        max_memory_gb=memory_gb,
        queued_at=queued_at,
        created_at=queued_at,
        seq=next(_seq),
    )


def cluster(workers: int = 2, cores: float = 2, memory_gb: float = 8, **kwargs: object) -> Capacity:
    return Capacity(workers=(WorkerCapacity(cores, memory_gb),) * workers, **kwargs)  # type: ignore[arg-type]


def started(queued: list[Job], capacity: Capacity, now: float = 1.0) -> list[str]:
    return [j.id for j in pick_next(queued, capacity, now, aging_interval=AGING).start]


def test_higher_priority_starts_first() -> None:
    queued = [job("low", Priority.LOW), job("critical", Priority.CRITICAL), job("high", Priority.HIGH)]
    assert started(queued, cluster(max_concurrent=2)) == ["critical", "high"]


def test_first_come_first_served_within_a_priority() -> None:
    queued = [job(f"n{i}") for i in range(5)]
    assert started(queued, cluster(max_concurrent=3)) == ["n0", "n1", "n2"]


def test_aging_promotes_an_old_low_job_past_newer_high_ones() -> None:
    old_low = job("old-low", Priority.LOW, queued_at=0.0)
    capacity = cluster(max_concurrent=1)
    # one interval in: LOW stands at NORMAL, below a HIGH job submitted just now
    highs = [job(f"high{i}", Priority.HIGH, queued_at=AGING) for i in range(3)]
    assert started([old_low, *highs], capacity, now=AGING + 1) == ["high0"]
    # two intervals in: LOW stands at HIGH's level and is older, so it goes first
    highs = [job(f"later{i}", Priority.HIGH, queued_at=2 * AGING) for i in range(3)]
    assert started([old_low, *highs], capacity, now=2 * AGING + 1) == ["old-low"]
    assert level(old_low, now=3 * AGING, aging_interval=AGING) == int(Priority.CRITICAL)


def test_the_client_with_fewer_running_jobs_goes_first_within_a_level() -> None:
    queued = [job("alice-2", client="alice"), job("bob-1", client="bob")]
    capacity = cluster(max_concurrent=3, running=(Running("alice", 1, 1),))
    assert started(queued, capacity) == ["bob-1", "alice-2"]


def test_job_bigger_than_the_cluster_is_unfittable_with_the_reason() -> None:
    huge = job("huge", cores=64)
    fat = job("fat", memory_gb=1e5)
    decision = pick_next([huge, fat, job("small")], cluster(), now=1.0, aging_interval=AGING)
    assert [j.id for j in decision.start] == ["small"]
    reasons = dict((j.id, why) for j, why in decision.unfittable)
    assert reasons["huge"].startswith("max_cores=64 is more than the whole cluster has (4 cores)")
    assert "max_memory_gb=100000" in reasons["fat"] and "(16.00 GB)" in reasons["fat"]
    assert decision.reason(huge) == reasons["huge"]


def test_pieces_spread_over_workers_so_a_job_may_need_more_than_one_worker_has() -> None:
    two_single_thread_workers = cluster(workers=2, cores=1)
    wide = job("wide", cores=2)
    assert never_fits(wide, two_single_thread_workers) is None
    assert started([wide], two_single_thread_workers) == ["wide"]


def test_with_no_workers_yet_nothing_is_unfittable_and_nothing_starts() -> None:
    decision = pick_next([job("a", cores=64)], Capacity(), now=1.0, aging_interval=AGING)
    assert decision.start == () and decision.unfittable == ()
    assert decision.reason(job("b")) == "no workers are connected yet"


def test_capacity_limits_and_backfill() -> None:
    capacity = cluster(workers=1, cores=4, memory_gb=8, max_concurrent=10)
    queued = [job("big", Priority.HIGH, cores=3), job("bigger", cores=2), job("small", Priority.LOW)]
    decision = pick_next(queued, capacity, now=1.0, aging_interval=AGING)
    # 'bigger' does not fit beside 'big'; the smaller LOW job backfills the last core
    assert [j.id for j in decision.start] == ["big", "small"]
    assert decision.reason(queued[1]) == "needs 2 cores; 0 are free"
    memory_bound = pick_next(
        [job("m", memory_gb=6)], cluster(workers=1, memory_gb=8, running=(Running("x", 0.5, 4),)), 1.0
    )
    assert (
        memory_bound.start == ()
        and memory_bound.reason(job("m", memory_gb=6)) == "needs 6 GB; 4.00 GB are free"
    )


def test_max_concurrent_jobs() -> None:
    capacity = cluster(max_concurrent=2, running=(Running("a", 1, 1),))
    decision = pick_next([job("x"), job("y"), job("z")], capacity, now=1.0, aging_interval=AGING)
    assert [j.id for j in decision.start] == ["x"]
    assert decision.reason(job("y")) == "2 jobs are running, the most allowed at once"
    full = cluster(max_concurrent=1, running=(Running("a", 1, 1),))
    assert started([job("w")], full) == []


def test_an_exact_fit_after_float_sums_still_starts() -> None:
    running = tuple(Running("a", 0.1, 0.1) for _ in range(3))
    capacity = Capacity((WorkerCapacity(1.0, 1.0),), running, max_concurrent=10)
    assert started([job("rest", cores=0.7, memory_gb=0.7)], capacity) == ["rest"]


@pytest.mark.parametrize("n", [2_000])
def test_thousands_waiting_decide_fast(n: int) -> None:
    import time

    queued = [job(f"j{i}", Priority(i % 4), queued_at=float(i)) for i in range(n)]
    began = time.perf_counter()
    decision = pick_next(queued, cluster(max_concurrent=4), now=float(n), aging_interval=AGING)
    assert len(decision.start) == 4
    assert time.perf_counter() - began < 0.5


def test_every_waiting_job_says_why() -> None:
    from pycluster.jobs.policy import waiting_reasons

    queued = [job("h1", Priority.HIGH), job("n1"), job("h2", Priority.HIGH), job("l1", Priority.LOW)]
    full = cluster(max_concurrent=1, running=(Running("a", 1, 1),))
    reasons = waiting_reasons(queued, full, now=1.0, aging_interval=AGING)
    assert reasons["h1"] == "1 jobs are running, the most allowed at once"
    assert reasons["h2"] == "1 jobs are running, the most allowed at once; 1 job ahead of it (1 at HIGH)"
    assert reasons["l1"].endswith("3 jobs ahead of it (2 at HIGH, 1 at NORMAL)")
    assert waiting_reasons([job("x")], Capacity(), 1.0)["x"] == "no workers are connected yet"
    small = Capacity((WorkerCapacity(1, 0.4),))
    fat = waiting_reasons([job("fat", memory_gb=1)], small, 1.0)["fat"]
    assert fat.startswith("can never start on the workers connected now: max_memory_gb=1 is more")
    assert "(0.40 GB)" in fat
