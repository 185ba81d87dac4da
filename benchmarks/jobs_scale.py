"""The job queue with 1k, 10k and 100k jobs already in its database (90 % finished, 10 % queued
and waiting for more memory than the cluster has, so they stay queued). Per size: the median
cost of a submit, a status read, a filtered list (first page, with its total) and a dispatch
(a new job submitted until it started, on an in-process Dask cluster), and each as a ratio to
its cost at 1k. Target: every ratio at 100k below 2.

    python benchmarks/jobs_scale.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster

from pycluster.jobs import JobQueue, QueueSettings
from pycluster.jobs.model import Job, JobStatus, Priority, new_job_id
from pycluster.jobs.queue import DATABASE_NAME
from pycluster.jobs.store import JobStore


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def fill(state: Path, n: int) -> list[str]:
    """``n`` jobs straight into the database; the ids of the finished ones."""
    store = JobStore(state / DATABASE_NAME)
    finished: list[str] = []
    now = time.time()
    batch: list[Job] = []
    for i in range(n):
        queued = i % 10 == 0
        job = Job(
            new_job_id(),
            "operation",
            "echo",
            {"value": i},
            priority=Priority.LOW,
            status=JobStatus.QUEUED if queued else JobStatus.COMPLETED,
            client_id=f"client-{i % 7}",
            max_memory_gb=10_000.0 if queued else 1.0,  # never fits: stays queued
            created_at=now - n + i,
            queued_at=now - n + i,
            finished_at=None if queued else now - n + i + 0.5,
            result=None if queued else {"echo": i},
        )
        batch.append(job)
        if not queued:
            finished.append(job.id)
        if len(batch) == 5000:
            store.insert_many(batch)
            batch = []
    if batch:
        store.insert_many(batch)
    store.close()
    return finished


def median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 3)


def measure(n: int, client: Client) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        finished = fill(state, n)
        started = time.perf_counter()
        queue = JobQueue(client, state, QueueSettings(max_concurrent_jobs=4, check_interval=1.0)).start()
        recovery = time.perf_counter() - started
        try:
            submits, reads, lists, dispatches = [], [], [], []
            for _ in range(200):
                t = time.perf_counter()
                queue.submit_job("echo", {"value": 1}, priority="HIGH", max_memory_gb=0.01)
                submits.append(time.perf_counter() - t)
            ids = random.Random(1).sample(finished, min(500, len(finished)))
            for job_id in ids:
                t = time.perf_counter()
                queue.get(job_id)
                reads.append(time.perf_counter() - t)
            for i in range(100):
                t = time.perf_counter()
                queue.list(JobStatus.COMPLETED if i % 2 else JobStatus.QUEUED, limit=50)
                lists.append(time.perf_counter() - t)
            for _ in range(30):
                job = queue.submit_job("echo", {"value": 2}, priority="CRITICAL", max_memory_gb=0.01)
                done = queue.wait(job.id, timeout=60)
                assert done.started_at is not None
                dispatches.append(done.started_at - done.created_at)
        finally:
            queue.stop()
    return {
        "recovery_s": round(recovery, 3),
        "submit_ms": median_ms(submits),
        "status_ms": median_ms(reads),
        "list_filtered_ms": median_ms(lists),
        "dispatch_ms": median_ms(dispatches),
    }


def scale_figures(sizes: tuple[int, ...] = (1000, 10_000, 100_000)) -> None:
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        base: dict[str, float] | None = None
        for n in sizes:
            figures = measure(n, client)
            base = base or figures
            ratios = {k: round(v / base[k], 2) for k, v in figures.items() if base[k] and k != "recovery_s"}
            emit(benchmark="jobs_at_scale", jobs_in_db=n, **figures, ratio_to_first=ratios)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    scale_figures(tuple(args.sizes))


if __name__ == "__main__":
    main()
