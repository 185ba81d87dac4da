"""Soak: bounded mixed load on a `pycluster head` with 2 local workers. One JSON line per figure.

The head runs as its own process (`pycluster head --local-workers 2`, a temporary state dir, only
127.0.0.1), so its RSS and open file descriptors are the head's alone. For ``--minutes`` (default 2),
at the same time:

- jobs over REST: ``echo`` jobs in bursts, a ``sleep`` job and an ``aggregate`` on an uploaded CSV
  now and then, a dataset upload and delete now and then;
- maps from Python: ``ClusterManager.map_tasks`` over 200 items, gathered, again and again;
- polling as dashboards do: health, the job list, the queue, the dashboard snapshot, and the
  dashboard's live event stream, opened and closed in turn.

The first fifth of the time is warm-up. Then it waits for every acknowledged job and prints:
jobs submitted / completed / failed / lost, maps and items, the head's RSS and open file
descriptors at warm-up and at the end, RSS growth per 1,000 jobs submitted after warm-up (and over
the last half alone), and the RSS every tenth of the run.

    python benchmarks/soak.py [--minutes 2] [--trace-memory]

``--trace-memory`` is a diagnostic mode: the head runs under ``tracemalloc`` (so slower, and its RSS
includes tracemalloc's own tables) and the run ends with the allocations that grew most between
warm-up and the end, by source line and by call path, and the object types whose count grew most.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from pycluster import ClusterManager

CSV = "reads,group\n" + "".join(f"{i % 97},{i % 5}\n" for i in range(2000))
FINISHED = {"completed", "failed", "cancelled"}


# The head under --trace-memory: tracemalloc from the start, and on SIGUSR1 a snapshot (after a full
# collection) plus a count of live objects by type, written where the benchmark waits for them.
TRACED_HEAD = """
import collections, gc, json, os, signal, sys, tracemalloc
tracemalloc.start(int(os.environ["SOAK_TRACE_FRAMES"]))
out = os.environ["SOAK_TRACE_DIR"]
taken = 0
def dump(*_):
    global taken
    taken += 1
    gc.collect()
    types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    with open(os.path.join(out, f"types-{taken}.json"), "w") as f:
        json.dump(dict(types.most_common(400)), f)
    tracemalloc.take_snapshot().dump(os.path.join(out, f"head-{taken}.part"))
    os.rename(os.path.join(out, f"head-{taken}.part"), os.path.join(out, f"head-{taken}.snapshot"))
signal.signal(signal.SIGUSR1, dump)
from pycluster.cli import main
sys.argv[0] = "pycluster"
sys.exit(main())
"""


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


@dataclass
class Tally:
    job_ids: list[str] = field(default_factory=list)
    maps: int = 0
    map_items: int = 0
    map_errors: int = 0
    polls: int = 0
    poll_errors: int = 0
    streams: int = 0
    datasets: int = 0
    dataset_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_head(state: Path, env: dict[str, str], traced: bool) -> tuple[subprocess.Popen[str], str, str]:
    """The head process; its dashboard URL and scheduler address once its banner is out."""
    plain = [str(Path(sys.executable).parent / "pycluster")]
    command = [sys.executable, "-c", TRACED_HEAD] if traced else plain
    head = subprocess.Popen(
        [*command, "head", "--local-workers", "2",
         "--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off",
         "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert head.stdout is not None
    url = scheduler = ""
    deadline = time.monotonic() + 120
    for line in head.stdout:
        if m := re.search(r"scheduler:\s+(\S+)", line):
            scheduler = m.group(1)
        if m := re.search(r"dashboard:\s+(http://\S+)", line):
            url = m.group(1).rstrip("/")
        if (url and scheduler) or time.monotonic() > deadline:
            break
    if not (url and scheduler):
        head.kill()
        raise SystemExit("the head did not start")
    # keep reading its output, or a full pipe would block the head
    threading.Thread(target=lambda: [None for _ in head.stdout or []], daemon=True).start()
    return head, url, scheduler


def head_figures(pid: int) -> tuple[int, int]:
    """RSS bytes and open file descriptors of the head process (not its workers)."""
    process = psutil.Process(pid)
    return process.memory_info().rss, process.num_fds()


Traced = tuple[tracemalloc.Snapshot, dict[str, int]]


def head_snapshot(head: subprocess.Popen[str], trace_dir: Path) -> Traced:
    """Asks the traced head for a snapshot and waits for it (a big heap takes a while to write)."""
    taken = len(list(trace_dir.glob("head-*.snapshot"))) + 1
    head.send_signal(signal.SIGUSR1)
    path = trace_dir / f"head-{taken}.snapshot"
    deadline = time.monotonic() + 300
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the traced head wrote no snapshot")
        time.sleep(0.5)
    types = json.loads((trace_dir / f"types-{taken}.json").read_text())
    return tracemalloc.Snapshot.load(str(path)), types


def emit_growth(warm: Traced, end: Traced) -> None:
    """What grew in the head between the two snapshots: lines, call paths, object types."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
    before, after = warm[0].filter_traces(ignore), end[0].filter_traces(ignore)
    emit(
        figure="traced_heap_mb",
        warm_up=round(sum(s.size for s in before.statistics("filename")) / 1e6, 1),
        end=round(sum(s.size for s in after.statistics("filename")) / 1e6, 1),
    )
    for line in after.compare_to(before, "lineno")[:25]:
        frame = line.traceback[0]
        emit(figure="grew_at_line", kib=round(line.size_diff / 1024), count=line.count_diff,
             at=f"{frame.filename}:{frame.lineno}")  # fmt: skip
    for path in after.compare_to(before, "traceback")[:12]:
        frames = [f"{f.filename.split('-packages/')[-1]}:{f.lineno}" for f in path.traceback]
        emit(figure="grew_along_path", kib=round(path.size_diff / 1024), count=path.count_diff, path=frames)
    counts = collections.Counter(end[1])
    counts.subtract(collections.Counter(warm[1]))
    emit(figure="object_types_grown", value=dict(counts.most_common(25)))


def submit_jobs(http: httpx.Client, tally: Tally, stop: threading.Event, dataset: list[str]) -> None:
    n = 0
    while not stop.is_set():
        bodies: list[dict[str, object]] = [
            {"operation": "echo", "parameters": {"value": n + i}} for i in range(10)
        ]
        if n % 100 == 0:
            bodies.append({"operation": "sleep", "parameters": {"seconds": 0.2, "pieces": 4}})
        if n % 50 == 0 and dataset:
            bodies.append({"operation": "aggregate", "dataset_id": dataset[0],
                           "parameters": {"column": "reads", "operation": "sum"}})  # fmt: skip
        for body in bodies:
            answer = http.post("/api/processing/jobs/submit", json=body)
            answer.raise_for_status()
            with tally.lock:
                tally.job_ids.append(answer.json()["job_id"])
        n += 10
        stop.wait(0.1)


def run_maps(scheduler: str, tally: Tally, stop: threading.Event) -> None:
    with ClusterManager.connect(scheduler) as manager:
        while not stop.is_set():
            futures = manager.map_tasks(abs, range(-200, 0))
            try:
                results = manager.gather(futures, timeout=60)
                ok = results == list(range(200, 0, -1))
            except Exception:
                ok = False
            with tally.lock:
                tally.maps += 1
                tally.map_items += 200
                tally.map_errors += not ok
            stop.wait(0.5)


def poll(http: httpx.Client, tally: Tally, stop: threading.Event) -> None:
    paths = ["/api/processing/health", "/api/processing/jobs/list?limit=20", "/api/processing/queue/status",
             "/api/dashboard/snapshot"]  # fmt: skip
    while not stop.is_set():
        for path in paths:
            ok = http.get(path).status_code == 200
            with tally.lock:
                tally.polls += 1
                tally.poll_errors += not ok
        stop.wait(0.2)


def stream(url: str, tally: Tally, stop: threading.Event) -> None:
    """A dashboard's live event stream, read for a few seconds, closed, opened again."""
    while not stop.is_set():
        opened = time.monotonic()
        with httpx.Client(base_url=url, timeout=30) as http, http.stream("GET", "/api/dashboard/stream") as s:
            for _ in s.iter_lines():
                if stop.is_set() or time.monotonic() - opened > 5:
                    break
        with tally.lock:
            tally.streams += 1


def datasets(http: httpx.Client, tally: Tally, stop: threading.Event, kept: list[str]) -> None:
    """One dataset kept for aggregate jobs; others uploaded and deleted in turn."""
    first = http.post("/api/processing/data/upload", files={"file": ("reads.csv", CSV.encode())})
    first.raise_for_status()
    kept.append(first.json()["dataset_id"])
    # every 4.5 s: not the web server's 5 s keep-alive, where a request on a connection the server
    # is closing at that moment is reset (a POST is not retried by the client)
    while not stop.wait(4.5):
        try:
            answer = http.post("/api/processing/data/upload", files={"file": ("more.csv", CSV.encode())})
            answer.raise_for_status()
            http.get(f"/api/processing/data/{answer.json()['dataset_id']}").raise_for_status()
            http.delete(f"/api/processing/data/{answer.json()['dataset_id']}").raise_for_status()
            ok = True
        except httpx.HTTPError:  # counted and printed: the load goes on
            ok = False
        with tally.lock:
            tally.datasets += ok
            tally.dataset_errors += not ok


def settle(http: httpx.Client, ids: list[str], timeout: float) -> dict[str, str]:
    """The final status of every job (waits up to ``timeout`` for the queue to drain)."""
    deadline = time.monotonic() + timeout
    final: dict[str, str] = {}
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        still = []
        for job in pending:
            answer = http.get(f"/api/processing/jobs/{job}/status")
            status = answer.json().get("status", "missing") if answer.status_code == 200 else "missing"
            if status in FINISHED or status == "missing":
                final[job] = status
            else:
                still.append(job)
        pending = still
        if pending:
            time.sleep(0.5)
    final.update({job: "unfinished" for job in pending})
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--trace-memory", action="store_true", help="diagnostic: what grows in the head")
    parser.add_argument("--trace-frames", type=int, default=12, help="frames kept per allocation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pycluster-soak-") as tmp:
        root = Path(tmp)
        for name in ("state", "config", "runtime"):
            (root / name).mkdir(mode=0o700)
        # nothing of the user's: no discovery port, config or connection files, state of its own
        os.environ.update({
            "PYCLUSTER_DISCOVERY_PORT": "0", "PYCLUSTER_CONFIG_DIR": str(root / "config"),
            "PYCLUSTER_RUNTIME_DIR": str(root / "runtime"), "PYCLUSTER_STATE_DIR": str(root / "state"),
        })  # fmt: skip
        trace_dir = root / "trace" if args.trace_memory else None
        env = dict(os.environ)
        if trace_dir is not None:
            trace_dir.mkdir()
            env.update(SOAK_TRACE_DIR=str(trace_dir), SOAK_TRACE_FRAMES=str(args.trace_frames))
        head, url, scheduler = start_head(root / "state", env, trace_dir is not None)
        try:
            run(head, url, scheduler, args.minutes * 60, trace_dir)
        finally:
            head.terminate()
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                head.kill()


def run(
    head: subprocess.Popen[str], url: str, scheduler: str, seconds: float, trace_dir: Path | None
) -> None:
    tally, stop = Tally(), threading.Event()
    kept: list[str] = []  # the dataset the aggregate jobs run on, once uploaded
    with httpx.Client(base_url=url, timeout=60) as http, httpx.Client(base_url=url, timeout=60) as polling:
        workers = [
            threading.Thread(target=datasets, args=(http, tally, stop, kept)),
            threading.Thread(target=submit_jobs, args=(http, tally, stop, kept)),
            threading.Thread(target=run_maps, args=(scheduler, tally, stop)),
            threading.Thread(target=poll, args=(polling, tally, stop)),
            threading.Thread(target=stream, args=(url, tally, stop)),
        ]
        started = time.monotonic()
        for thread in workers:
            thread.start()
        time.sleep(seconds / 5)
        rss_warm, fds_warm = head_figures(head.pid)
        warm_snapshot = head_snapshot(head, trace_dir) if trace_dir is not None else None
        with tally.lock:
            jobs_at_warm = len(tally.job_ids)
        # RSS every tenth of the run: a leak climbs steadily, bounded logs and caches level off
        series, jobs_seen = [round(rss_warm / 1e6, 1)], [jobs_at_warm]
        while (left := seconds - (time.monotonic() - started)) > 0:
            time.sleep(min(left, seconds / 10))
            series.append(round(head_figures(head.pid)[0] / 1e6, 1))
            with tally.lock:
                jobs_seen.append(len(tally.job_ids))
        stop.set()
        for thread in workers:
            thread.join(120)
        final = settle(http, tally.job_ids, 300)
        time.sleep(2)  # the last answers and streams closed
        rss_end, fds_end = head_figures(head.pid)
        if trace_dir is not None and warm_snapshot is not None:
            emit_growth(warm_snapshot, head_snapshot(head, trace_dir))
    counts = {s: sum(1 for v in final.values() if v == s) for s in ("completed", "failed", "cancelled")}
    lost = len(final) - sum(counts.values())
    after_warm = max(1, len(tally.job_ids) - jobs_at_warm)
    emit(figure="soak_seconds", value=round(seconds, 1))
    emit(figure="jobs_submitted", value=len(tally.job_ids))
    emit(figure="jobs_completed", value=counts["completed"])
    emit(figure="jobs_failed", value=counts["failed"] + counts["cancelled"])
    emit(figure="jobs_lost", value=lost, detail="missing or unfinished 300 s after the load stopped")
    emit(figure="maps", value=tally.maps, items=tally.map_items, wrong_or_failed=tally.map_errors)
    emit(figure="polls", value=tally.polls, errors=tally.poll_errors, streams_opened=tally.streams)
    emit(figure="datasets_uploaded_and_deleted", value=tally.datasets, errors=tally.dataset_errors)
    emit(figure="head_rss_mb", warm_up=round(rss_warm / 1e6, 1), end=round(rss_end / 1e6, 1))
    emit(
        figure="head_rss_growth_mb_per_1000_jobs",
        value=round((rss_end - rss_warm) / 1e6 / (after_warm / 1000), 2),
        jobs_after_warm_up=after_warm,
        target="< 1",
    )
    emit(figure="head_open_fds", warm_up=fds_warm, end=fds_end)
    emit(figure="head_rss_mb_series", value=series, detail="at warm-up, then every tenth of the run")
    half = len(series) // 2
    emit(
        figure="head_rss_growth_mb_per_1000_jobs_second_half",
        value=round((series[-1] - series[half]) / max(0.001, (jobs_seen[-1] - jobs_seen[half]) / 1000), 2),
        jobs=jobs_seen[-1] - jobs_seen[half],
        detail="over the last half of the load only",
    )


if __name__ == "__main__":
    main()
