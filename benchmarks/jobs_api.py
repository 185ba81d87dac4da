"""The job queue under load, over HTTP and from Python. One JSON line per figure.

- 2,000 job submissions (the diagnostic ``echo`` operation) from 20 concurrent HTTP
  clients against a running head: submit p50/p99 latency, end-to-end jobs/s, and the
  status endpoint's p99 while the queue drains. Nothing lost: completed == submitted.
- The same number of trivial jobs through the Python job API vs raw ``Client.submit``
  on the same cluster (ratio = pycluster time / raw time).

    python benchmarks/jobs_api.py [--jobs 2000] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time

import httpx
from distributed import wait

from pycluster import HeadNode


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def submit_all(base: str, n_jobs: int, n_clients: int) -> tuple[list[str], list[float]]:
    ids: list[str] = []
    latencies: list[float] = []
    counter = iter(range(n_jobs))

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for i in counter:
                start = time.perf_counter()
                r = await http.post(
                    "/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": i}}
                )
                latencies.append(time.perf_counter() - start)
                r.raise_for_status()
                ids.append(r.json()["job_id"])

    await asyncio.gather(*(client_loop() for _ in range(n_clients)))
    return ids, latencies


async def poll_until_done(base: str, ids: list[str], n_jobs: int) -> tuple[float, list[float], int]:
    status_latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while True:
            for job_id in random.sample(ids, min(20, len(ids))):
                start = time.perf_counter()
                (await http.get(f"/api/processing/jobs/{job_id}/status")).raise_for_status()
                status_latencies.append(time.perf_counter() - start)
            completed = (
                await http.get("/api/processing/jobs/list", params={"status": "completed", "limit": 1})
            ).json()
            if completed["total"] >= n_jobs:
                return time.perf_counter(), status_latencies, completed["total"]
            await asyncio.sleep(0.2)


def http_load(head: HeadNode, n_jobs: int, n_clients: int) -> None:
    base = head.dashboard_url or ""
    started = time.perf_counter()
    ids, submit_latencies = asyncio.run(submit_all(base, n_jobs, n_clients))
    submitted = time.perf_counter()
    finished, status_latencies, completed = asyncio.run(poll_until_done(base, ids, n_jobs))
    emit(
        benchmark="rest_submit_latency",
        jobs=n_jobs,
        clients=n_clients,
        p50_ms=round(1000 * percentile(submit_latencies, 0.5), 2),
        p99_ms=round(1000 * percentile(submit_latencies, 0.99), 2),
        submits_per_s=round(n_jobs / (submitted - started), 1),
    )
    emit(
        benchmark="rest_end_to_end",
        jobs=n_jobs,
        seconds=round(finished - started, 2),
        jobs_per_s=round(n_jobs / (finished - started), 1),
        submitted=len(ids),
        completed=completed,
        lost=len(ids) - completed,
    )
    emit(
        benchmark="rest_status_latency_under_load",
        requests=len(status_latencies),
        p50_ms=round(1000 * percentile(status_latencies, 0.5), 2),
        p99_ms=round(1000 * percentile(status_latencies, 0.99), 2),
    )


def noop(x: int) -> int:
    return x


def python_api_vs_raw(head: HeadNode, n_jobs: int) -> None:
    client = head.cluster_manager.client
    start = time.perf_counter()
    handles = [head.jobs.submit(noop, i) for i in range(n_jobs)]
    results = [h.result(timeout=600) for h in handles]
    ours = time.perf_counter() - start
    assert results == list(range(n_jobs))
    start = time.perf_counter()
    wait([client.submit(noop, i, pure=False) for i in range(n_jobs)])
    raw = time.perf_counter() - start
    emit(
        benchmark="python_job_api_vs_client_submit",
        jobs=n_jobs,
        pycluster_seconds=round(ours, 3),
        dask_seconds=round(raw, 3),
        pycluster_jobs_per_s=round(n_jobs / ours, 1),
        dask_tasks_per_s=round(n_jobs / raw, 1),
        ratio=round(ours / raw, 2),
        note="each job is a persisted SQLite row with retries, checkpoints and progress; a Dask task is not",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("MAX_CONCURRENT_JOBS", "16")
    with (
        tempfile.TemporaryDirectory() as state,
        HeadNode(
            "bench-jobs", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=state
        ) as head,
    ):
        head.start(n_local_workers=2, threads_per_worker=1)
        http_load(head, args.jobs, args.clients)
        python_api_vs_raw(head, args.jobs)


if __name__ == "__main__":
    main()
