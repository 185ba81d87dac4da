"""The waiting-jobs index and group commit: the dispatcher's shortcuts pick exactly what the
full policy picks, and concurrent submissions are all stored, once, in order."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

from pycluster.jobs import JobQueue
from pycluster.jobs.model import Job, JobStatus, Priority
from pycluster.jobs.policy import Capacity, Running, WorkerCapacity, pick_next
from pycluster.jobs.waiting import WaitingJobs


def test_candidates_pick_what_the_whole_queue_would() -> None:
    rng = random.Random(7)
    for _ in range(200):
        index = WaitingJobs()
        jobs = []
        for seq in range(1, rng.randint(1, 80)):
            job = Job(
                f"j{seq}",
                "operation",
                "echo",
                priority=Priority(rng.randint(0, 3)),
                client_id=rng.choice("abc"),
                max_cores=rng.choice([0.5, 1, 2, 4]),
                max_memory_gb=rng.choice([0.5, 1, 3]),
                queued_at=seq * 10.0,  # submission order; some have aged a level or more
                seq=seq,
                status=JobStatus.QUEUED,
            )
            jobs.append(job)
            index.add(job)
        running = tuple(Running(rng.choice("abc"), 1, 1) for _ in range(rng.randint(0, 3)))
        workers = tuple(WorkerCapacity(2, 4) for _ in range(rng.randint(1, 3)))
        capacity = Capacity(workers, running, max_concurrent=rng.randint(1, 6))
        now = 1000.0
        whole = pick_next(jobs, capacity, now, aging_interval=150)
        few = index.candidates(capacity.free_slots, capacity.free_cores, capacity.free_memory_gb)
        assert len(few) <= len(jobs)
        short = pick_next(few, capacity, now, aging_interval=150)
        assert [j.id for j in short.start] == [j.id for j in whole.start]


def test_gated_jobs_wait_apart_until_released() -> None:
    index = WaitingJobs()
    child = Job("b", "operation", "echo", depends_on=["a"], seq=2, status=JobStatus.PENDING)
    plain = Job("c", "operation", "echo", seq=3, status=JobStatus.PENDING)
    index.add(child)
    index.add(plain)
    assert [j.id for j in index.gated()] == ["b"] and [j.id for j in index.ready()] == ["c"]
    assert [j.id for j in index.take_pending()] == ["b", "c"] and index.take_pending() == []
    index.release(child)
    assert index.gated() == [] and {j.id for j in index.candidates(4, 8, 8)} == {"b", "c"}
    assert index.remove("b") is child and "b" not in index and len(index) == 1


def test_concurrent_submissions_are_each_stored_once_in_order(tmp_path: Path) -> None:
    queue = JobQueue(None, tmp_path).start()
    ids: list[str] = []
    lock = threading.Lock()

    def submit_many() -> None:
        for i in range(50):
            job = queue.submit_job("echo", {"value": i})
            with lock:
                ids.append(job.id)

    threads = [threading.Thread(target=submit_many) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # every acknowledged job is in the database already (written before it was acknowledged)
    db = sqlite3.connect(tmp_path / "pycluster.sqlite3")
    try:
        rows = db.execute("SELECT id, seq FROM jobs ORDER BY seq").fetchall()
    finally:
        db.close()
    queue.stop()
    assert len(ids) == len(set(ids)) == 1000
    assert {job_id for job_id, _ in rows} == set(ids)
    assert [seq for _, seq in rows] == list(range(1, 1001))
