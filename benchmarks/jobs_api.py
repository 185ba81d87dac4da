"""The job queue under load, over HTTP and from Python. One JSON line per figure.

- REST: a head in a process of its own (as users run it); 20 concurrent HTTP clients submit
  2,000 ``echo`` jobs while one more client reads job status and another
  ``GET /api/processing/health`` the whole time. Printed: submit p50/p99 and submissions/s,
  status p99 and health p99 *under that load*, the ratio of submit p99 to health p99 (the
  web stack's own floor, measured in the same run, so machine noise cancels), and the check
  that every acknowledged job was stored once and completed (nothing lost, nothing duplicated).
  Each client's first request (a new connection to a head that just started, all 20 at once)
  is left out of the percentiles and shown apart (``p99_ms_with_first_round``,
  ``first_round_max_ms``): with 2,000 submissions those 20 are the whole 1 % by themselves.
  The load generator is ``benchmarks/lean_http.py`` (keep-alive HTTP/1.1, requests encoded up
  front): httpx cost ~0.9 ms of client CPU per request on the same 2 cores as the head, more
  than the head's own share, so it limited the rate it measured; ``--client httpx`` keeps it.
- The REST load runs twice: on a head with its defaults (the jobs of a burst of submissions
  wait up to ``burst_hold``, 1 s, so the head answers the submissions first) and on one with
  ``PYCLUSTER_JOB_BURST_HOLD=0`` (jobs start as they come); every figure names its
  ``burst_hold``. The end-to-end figure (until every job completed) shows what the hold costs.
- Python: the same number of trivial jobs through the Python job API vs raw ``Client.submit``
  on the same cluster (``ratio`` = pycluster time / raw time), and vs what a user would write
  instead, Dask's own ``LocalCluster`` (2 workers of 1 thread) and ``Client.submit``
  (``ratio_to_local_cluster``).
- ``--scale``: submit, status, list with a filter and dispatch with 1k, 10k and 100k jobs
  already in the database (finished and queued), each as a ratio to its cost at 1k.

    python benchmarks/jobs_api.py [--jobs 2000] [--clients 20] [--client lean|httpx] [--skip-python]
                                  [--skip-no-hold] [--scale]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from distributed import wait

from pycluster import HeadNode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, run as a script or not
from lean_http import LeanConnection, encode_get, encode_post_json

JOBS = "/api/processing/jobs"

HEAD_SCRIPT = """
import sys
from pycluster import HeadNode

head = HeadNode(
    "bench-jobs", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=sys.argv[1]
)
head.start(n_local_workers=2, threads_per_worker=1)
print(head.dashboard_url, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
head.shutdown()
"""


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux: /proc), its children left out."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HttpxSession:
    """The same calls as :class:`LeanConnection`, through httpx (``--client httpx``): what a
    user's Python client costs, and the figure earlier runs printed."""

    def __init__(self, base: str) -> None:
        self._http = httpx.AsyncClient(base_url=base, timeout=60)

    async def __aenter__(self) -> HttpxSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"content-type": "application/json"} if body is not None else None
        r = await self._http.request(method, path, content=body, headers=headers)
        return r.status_code, r.content


class LeanSession:
    """:class:`LeanConnection` with the calls encoded here (a few microseconds each)."""

    def __init__(self, base: str) -> None:
        self._connection = LeanConnection(base)
        self._host = self._connection.host

    async def __aenter__(self) -> LeanSession:
        await self._connection.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.__aexit__(None, None, None)

    async def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raw = encode_get(self._host, path) if body is None else encode_post_json(self._host, path, body)
        return await self._connection.request(raw)


SESSIONS = {"lean": LeanSession, "httpx": HttpxSession}


async def load(base: str, n_jobs: int, n_clients: int, client: str = "lean") -> dict[str, object]:
    session = SESSIONS[client]
    ids: list[str] = []
    submit_lat: list[float] = []
    status_lat: list[float] = []
    health_lat: list[float] = []
    # encoded before the clock starts, so the client spends its time sending and reading
    bodies = [json.dumps({"operation": "echo", "parameters": {"value": i}}).encode() for i in range(n_jobs)]
    counter = iter(bodies)
    submitting = True

    def check(status: int, body: bytes, path: str) -> bytes:
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")
        return body

    first_lat: list[float] = []  # each client's first submission: a new connection, cold paths

    async def submitter() -> None:
        async with session(base) as http:
            for n, body in enumerate(counter):
                start = time.perf_counter()
                status, answer = await http.call("POST", f"{JOBS}/submit", body)
                (submit_lat if n else first_lat).append(time.perf_counter() - start)
                ids.append(json.loads(check(status, answer, "submit"))["job_id"])

    async def reader(path_of: object, into: list[float]) -> None:
        async with session(base) as http:
            first = True  # left out, as the submitters' first round
            while submitting:
                path = path_of() if callable(path_of) else str(path_of)
                if path is None:
                    await asyncio.sleep(0.005)
                    continue
                start = time.perf_counter()
                check(*(await http.call("GET", path)), path)
                if not first:
                    into.append(time.perf_counter() - start)
                first = False
                await asyncio.sleep(0.005)

    def status_path() -> str | None:
        return f"{JOBS}/{random.choice(ids)}/status" if ids else None

    readers = [
        asyncio.create_task(reader(status_path, status_lat)),
        asyncio.create_task(reader("/api/processing/health", health_lat)),
    ]
    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(n_clients)))
    elapsed = time.perf_counter() - started
    submitting = False
    await asyncio.gather(*readers)
    return {
        "ids": ids,
        "submit": submit_lat,
        "first": first_lat,
        "status": status_lat,
        "health": health_lat,
        "elapsed": elapsed,
    }


async def drain(base: str, n_jobs: int, timeout: float = 600) -> tuple[float, int, int]:
    """Until every job completed: when, how many completed and how many rows there are."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while True:
            done = (await http.get(f"{JOBS}/list", params={"status": "completed", "limit": 1})).json()
            if done["total"] >= n_jobs or time.monotonic() > deadline:
                every = (await http.get(f"{JOBS}/list", params={"limit": 1})).json()
                return time.perf_counter(), int(done["total"]), int(every["total"])
            await asyncio.sleep(0.2)


def http_load(n_jobs: int, n_clients: int, client: str = "lean", burst_hold: str | None = None) -> None:
    """The REST load on a head of its own; ``burst_hold``: its ``PYCLUSTER_JOB_BURST_HOLD``
    (None: the default)."""
    with tempfile.TemporaryDirectory() as state:
        script = Path(state) / "head.py"
        script.write_text(textwrap.dedent(HEAD_SCRIPT))
        env = {
            **os.environ,
            "MAX_CONCURRENT_JOBS": os.environ.get("MAX_CONCURRENT_JOBS", "16"),
            "PYCLUSTER_DISCOVERY_PORT": "0",  # another head on this machine may hold the usual one
        }
        if burst_hold is not None:
            env["PYCLUSTER_JOB_BURST_HOLD"] = burst_hold
        hold = burst_hold if burst_hold is not None else "default (1s)"
        head = subprocess.Popen(
            [sys.executable, str(script), str(Path(state) / "state")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert head.stdout is not None and head.stdin is not None
        try:
            base = next((line.strip() for line in head.stdout if line.startswith("http")), "")
            if not base:
                raise RuntimeError(f"the head exited ({head.wait(60)}) before it served")
            emit(benchmark="head_pid", pid=head.pid)  # for py-spy
            started = time.perf_counter()
            head_cpu, client_cpu = cpu_seconds(head.pid), time.process_time()
            got = asyncio.run(load(base, n_jobs, n_clients, client))
            head_cpu, client_cpu = cpu_seconds(head.pid) - head_cpu, time.process_time() - client_cpu
            finished, completed, rows = asyncio.run(drain(base, n_jobs))
        finally:
            head.stdin.close()
            head.wait(60)
    ids = got["ids"]
    assert isinstance(ids, list)
    submit, status, health, first = (got[k] for k in ("submit", "status", "health", "first"))
    assert isinstance(submit, list) and isinstance(status, list) and isinstance(health, list)
    assert isinstance(first, list)
    elapsed = got["elapsed"]
    assert isinstance(elapsed, float)
    emit(
        benchmark="rest_submit_latency",
        burst_hold=hold,
        jobs=n_jobs,
        clients=n_clients,
        client=client,
        p50_ms=ms(percentile(submit, 0.5)),
        p99_ms=ms(percentile(submit, 0.99)),
        # the first round (one per client, all at once on a head that just started: new
        # connections, first calls) is 1 % of 2,000 by itself, so it is shown apart as well
        p99_ms_with_first_round=ms(percentile(submit + first, 0.99)),
        first_round_max_ms=ms(max(first, default=float("nan"))),
        submits_per_s=round(n_jobs / elapsed, 1),
        targets="p99 < 50 ms, >= 1000/s",
    )
    emit(
        benchmark="rest_reads_under_submit_load",
        burst_hold=hold,
        status_requests=len(status),
        status_p50_ms=ms(percentile(status, 0.5)),
        status_p99_ms=ms(percentile(status, 0.99)),
        health_requests=len(health),
        health_p50_ms=ms(percentile(health, 0.5)),
        health_p99_ms=ms(percentile(health, 0.99)),
        submit_p99_over_health_p99=round(percentile(submit, 0.99) / percentile(health, 0.99), 2),
        targets="status p99 < 20 ms",
    )
    # CPU time is less noisy than latency on a shared machine; the client shares the cores, so
    # its share says whether it, not the head, limits the rate
    emit(
        benchmark="rest_cpu_during_submit_load",
        burst_hold=hold,
        client=client,
        head_cpu_s_per_1000_submits=round(1000 * head_cpu / n_jobs, 3),
        client_cpu_s_per_1000_submits=round(1000 * client_cpu / n_jobs, 3),
        load_average=round(os.getloadavg()[0], 2),
    )
    emit(
        benchmark="rest_end_to_end",
        burst_hold=hold,
        jobs=n_jobs,
        seconds=round(finished - started, 2),
        jobs_per_s=round(n_jobs / (finished - started), 1),
        acknowledged=len(ids),
        distinct_ids=len(set(ids)),
        rows=rows,
        completed=completed,
        lost=len(ids) - completed,
        duplicated=rows - len(set(ids)),
    )


def noop(x: int) -> int:
    return x


def local_cluster_seconds(n_jobs: int) -> float:
    """What a user would write instead: Dask's own LocalCluster (2 worker processes of 1
    thread, as the head's) and ``Client.submit`` of the same trivial calls; seconds, once warm."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        wait([client.submit(noop, i, pure=False) for i in range(8)])  # both workers warm
        start = time.perf_counter()
        futures = [client.submit(noop, i, pure=False) for i in range(n_jobs)]
        wait(futures)
        return time.perf_counter() - start


def python_api_vs_raw(n_jobs: int) -> None:
    with (
        tempfile.TemporaryDirectory() as state,
        HeadNode(
            "bench-jobs-py", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=state
        ) as head,
    ):
        head.start(n_local_workers=2, threads_per_worker=1)
        client = head.cluster_manager.client
        wait([client.submit(noop, i, pure=False) for i in range(8)])  # both workers warm
        # CPU: this whole process (it holds the scheduler too), workers left out
        start, cpu = time.perf_counter(), time.process_time()
        handles = [head.jobs.submit(noop, i) for i in range(n_jobs)]
        results = [h.result(timeout=600) for h in handles]
        ours, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
        assert results == list(range(n_jobs))
        start, cpu = time.perf_counter(), time.process_time()
        futures = [client.submit(noop, i, pure=False) for i in range(n_jobs)]
        wait(futures)
        raw, raw_cpu = time.perf_counter() - start, time.process_time() - cpu
        del futures
    local = local_cluster_seconds(n_jobs)
    emit(
        benchmark="python_job_api_vs_client_submit",
        jobs=n_jobs,
        pycluster_seconds=round(ours, 3),
        dask_seconds=round(raw, 3),
        pycluster_cpu_ms_per_job=round(1000 * ours_cpu / n_jobs, 2),
        dask_cpu_ms_per_task=round(1000 * raw_cpu / n_jobs, 2),
        pycluster_jobs_per_s=round(n_jobs / ours, 1),
        dask_tasks_per_s=round(n_jobs / raw, 1),
        ratio=round(ours / raw, 2),
        local_cluster_seconds=round(local, 3),
        ratio_to_local_cluster=round(ours / local, 2),
        note="each job is a persisted SQLite row with retries, checkpoints and progress; a Dask task is not",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--client",
        choices=sorted(SESSIONS),
        default="lean",
        help="the load generator: lean (raw keep-alive HTTP/1.1, cheap enough not to limit the "
        "rate on a small machine) or httpx (what a Python user's client costs)",
    )
    parser.add_argument("--skip-python", action="store_true", help="leave out the Python API comparison")
    parser.add_argument("--scale", action="store_true", help="also 1k/10k/100k jobs in the database")
    parser.add_argument("--skip-http", action="store_true", help="leave out the REST load")
    parser.add_argument(
        "--skip-no-hold",
        action="store_true",
        help="leave out the second REST load, with PYCLUSTER_JOB_BURST_HOLD=0 (jobs start as they come)",
    )
    args = parser.parse_args()
    os.environ.setdefault("PYCLUSTER_DISCOVERY_PORT", "0")  # another head here may hold the usual one
    if not args.skip_http:
        http_load(args.jobs, args.clients, args.client)
        if not args.skip_no_hold:
            # the same load with jobs started as they come: what holding a burst's jobs buys
            # (submissions) and costs (the burst's end-to-end time), in the same run
            http_load(args.jobs, args.clients, args.client, burst_hold="0")
    if not args.skip_python:
        python_api_vs_raw(args.jobs)
    if args.scale:
        from benchmarks.jobs_scale import scale_figures

        scale_figures()


if __name__ == "__main__":
    main()
