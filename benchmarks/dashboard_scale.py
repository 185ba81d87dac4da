"""The dashboard at scale: 200 workers (simulated: Dask workers started in one other process)
and 100,000 jobs in the database, on 127.0.0.1.

Prints one JSON line per figure:
- ``dashboard_scale_build``: milliseconds (wall and CPU) to build one dashboard snapshot (the
  stream's tick, shared by every open dashboard) and one metrics sample (the metrics service's
  tick), and their CPU as a share of one core at the default intervals (2 s each); target:
  both together <= 5 %;
- ``dashboard_scale_sizes``: bytes of a whole snapshot and of the deltas the stream sends each
  tick (median and largest); target: an update < 100 KB;
- ``dashboard_scale_stream_cpu``: the head process's CPU share while idle with no dashboard,
  then with N dashboards' delta streams open (read by curl in other processes), and the
  difference (what the stream costs);
- ``dashboard_scale_tab`` (with ``--browser``): per tab, seconds from switching to it until its
  panel shows, and the longest main-thread task over the next 4 s (responsive: under 200 ms).

    python benchmarks/dashboard_scale.py [--workers 200] [--jobs 100000] [--dashboards 5] [--browser]

The head runs ``insecure`` (plain tcp://) so the simulated workers need no keys: loopback only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pycluster import HeadNode
from pycluster.jobs.model import Job, JobStatus, Priority, new_job_id
from pycluster.jobs.queue import DATABASE_NAME
from pycluster.jobs.store import JobStore, _to_row
from pycluster.web.delta import diff
from pycluster.web.snapshot import build_snapshot

TABS = ("overview", "workers", "tasks", "jobs", "monitoring", "gpu", "models")


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def fill_jobs(state_dir: Path, n: int) -> None:
    """``n`` finished jobs straight into the job database (one transaction: seconds, not minutes)."""
    store = JobStore(state_dir / DATABASE_NAME)
    now = time.time()
    rows = []
    for i in range(n):
        status = JobStatus.COMPLETED if i % 10 else JobStatus.FAILED
        job = Job(new_job_id(), "operation", "echo", {"value": i}, priority=Priority(i % 4), status=status)
        job.seq, job.created_at, job.finished_at = i + 1, now - n + i, now - n + i + 0.5
        job.pieces_total = job.pieces_done = 1
        job.progress = 100.0
        rows.append(_to_row(job))
    columns = list(rows[0])
    sql = f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    store._db.execute("BEGIN")
    store._db.executemany(sql, [list(r.values()) for r in rows])
    store._db.execute("COMMIT")
    store.close()


SIMULATE = """
import asyncio, sys
from distributed import Worker

async def main(address, n):
    workers = [Worker(address, nthreads=1, memory_limit="1GB", dashboard=False, name=f"sim-{i}")
               for i in range(n)]
    for i in range(0, n, 20):  # in groups: 200 handshakes at once would time out on 2 cores
        await asyncio.gather(*workers[i:i + 20])
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def simulate_workers(address: str, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SIMULATE, address, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def wait_workers(head: HeadNode, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while head.get_cluster_status()["n_workers"] < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {head.get_cluster_status()['n_workers']} of {n} workers joined")
        time.sleep(0.5)


def _cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _cpu_per_call(call: Any, calls: int, baseline: float) -> float:
    """CPU seconds of the whole process per ``call()``, less what it spends meanwhile anyway
    (``baseline``: CPU seconds per wall second, the scheduler answering 200 heartbeats)."""
    cpu0, wall0 = _cpu(), time.perf_counter()
    for _ in range(calls):
        call()
    return max(0.0, (_cpu() - cpu0) - baseline * (time.perf_counter() - wall0)) / calls


def build_costs(head: HeadNode, rounds: int) -> list[dict[str, Any]]:
    """Wall and CPU time of the stream's snapshot and of the metrics sample."""
    ctrl = head.services["web"].server.app.state.controller
    history = head.services["metrics"]

    async def sample() -> None:
        history.sample(await head.snapshot())

    frames, build_ms, sample_ms = [], [], []
    for _ in range(rounds):  # 2 s apart, as the stream builds them: the deltas are realistic
        started = time.perf_counter()
        frames.append(head.run_on_loop(build_snapshot(ctrl, 2.0)))
        build_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        head.run_on_loop(sample())
        sample_ms.append(1000 * (time.perf_counter() - started))
        time.sleep(2)
    cpu0, wall0 = _cpu(), time.perf_counter()
    time.sleep(5)
    baseline = (_cpu() - cpu0) / (time.perf_counter() - wall0)
    build_cpu = _cpu_per_call(lambda: head.run_on_loop(build_snapshot(ctrl, 2.0)), 10, baseline)
    sample_cpu = _cpu_per_call(lambda: head.run_on_loop(sample()), 10, baseline)
    emit(
        benchmark="dashboard_scale_build",
        workers=head.get_cluster_status()["n_workers"],
        snapshot_wall_ms=round(statistics.median(build_ms), 1),
        metrics_sample_wall_ms=round(statistics.median(sample_ms), 1),
        snapshot_cpu_ms=round(1000 * build_cpu, 1),
        metrics_sample_cpu_ms=round(1000 * sample_cpu, 1),
        head_cpu_percent_between=round(100 * baseline, 1),
        core_percent_at_2s=round(100 * (build_cpu + sample_cpu) / 2, 2),
        target_core_percent=5,
    )
    return frames


def sizes(frames: list[dict[str, Any]]) -> None:
    whole = [len(json.dumps(f, default=str)) for f in frames]
    deltas = [len(json.dumps(diff(a, b), default=str)) for a, b in itertools.pairwise(frames)]
    emit(
        benchmark="dashboard_scale_sizes",
        snapshot_bytes=statistics.median(whole),
        delta_bytes_median=statistics.median(deltas),
        delta_bytes_max=max(deltas),
        target_update_bytes=100_000,
    )


def head_cpu(seconds: float) -> float:
    proc = psutil.Process()
    before, started = proc.cpu_times(), time.perf_counter()
    time.sleep(seconds)
    after = proc.cpu_times()
    used = (after.user + after.system) - (before.user + before.system)
    return 100 * used / (time.perf_counter() - started)


def stream_cpu(head: HeadNode, n: int, seconds: float) -> None:
    idle = head_cpu(seconds)
    url = f"{head.dashboard_url}/api/dashboard/stream?interval=2&deltas=1"
    readers = [
        subprocess.Popen(
            ["curl", "-sN", "-o", "/dev/null", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(n)
    ]
    time.sleep(3)
    streaming = head_cpu(seconds)
    for reader in readers:
        reader.terminate()
        reader.wait(10)
    emit(
        benchmark="dashboard_scale_stream_cpu",
        dashboards=n,
        head_cpu_percent_no_dashboard=round(idle, 1),
        head_cpu_percent_with_dashboards=round(streaming, 1),
        stream_cost_percent=round(streaming - idle, 1),
    )


def tabs(head: HeadNode) -> None:
    from playwright.sync_api import sync_playwright
    from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(head.login_url or head.dashboard_url or "")
        page.goto(f"{head.dashboard_url}/#overview")
        page.wait_for_selector("#live-pill[data-state=live]", timeout=60_000)
        page.evaluate(
            """() => { window.longest = 0; new PerformanceObserver((list) => {
                 for (const e of list.getEntries()) window.longest = Math.max(window.longest, e.duration);
               }).observe({type: 'longtask'}); }"""
        )
        for tab in TABS:
            page.evaluate("() => { window.longest = 0; }")
            started = time.perf_counter()
            page.evaluate(f"() => {{ window.location.hash = '{tab}'; }}")
            page.wait_for_selector(f"#panel-{tab}:not([hidden])")
            shown = time.perf_counter() - started
            time.sleep(4)
            emit(
                benchmark="dashboard_scale_tab",
                tab=tab,
                seconds_to_show=round(shown, 3),
                longest_task_ms=round(page.evaluate("() => window.longest"), 1),
            )
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--dashboards", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU measurement window")
    parser.add_argument("--browser", action="store_true", help="also time every tab in chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        fill_jobs(Path(state), args.jobs)
        emit(
            benchmark="dashboard_scale_setup",
            jobs=args.jobs,
            fill_seconds=round(time.perf_counter() - started, 1),
        )
        head = HeadNode(
            "scale",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            state_dir=state,
            insecure=True,
        )
        head.start(n_local_workers=0)
        workers = simulate_workers(head.scheduler_address, args.workers)
        try:
            started = time.perf_counter()
            wait_workers(head, args.workers, timeout=300)
            emit(
                benchmark="dashboard_scale_setup",
                workers=args.workers,
                join_seconds=round(time.perf_counter() - started, 1),
            )
            time.sleep(3)  # heartbeats settle
            sizes(build_costs(head, args.rounds))
            stream_cpu(head, args.dashboards, args.seconds)
            if args.browser:
                tabs(head)
        finally:
            workers.terminate()
            workers.wait(30)
            head.shutdown()


if __name__ == "__main__":
    main()
