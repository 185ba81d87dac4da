"""A head's lifecycle against Dask's own LocalCluster + Client, in one run.

Prints one JSON line per figure (median of ``--rounds``; ``ratio`` = pycluster / Dask):
- ``start_to_first_result_s``: HeadNode.start(n_local_workers=2, threads_per_worker=1) and one
  task, vs LocalCluster(n_workers=2, threads_per_worker=1) + Client and one task;
- ``stop_s``: HeadNode.shutdown() vs Client.close() + LocalCluster.close();
- ``rss_mib``: resident memory of this process and its children while running;
- ``throughput_tasks_per_s``: ``--tasks`` no-op submit_task + ClusterManager.gather vs raw
  Client.submit + Client.gather on the LocalCluster (ratio: ours / raw, higher is better);
- ``stop_under_subreaper_s``: the same start/stop, run in a child of a process that made
  itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER, as tini or systemd do; Linux only).

    python benchmarks/lifecycle.py [--tasks 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil
from distributed import Client, LocalCluster

from pycluster import HeadNode


def noop(x: int) -> int:
    return x


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def tree_rss_mib() -> float:
    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def ours(tasks: int) -> dict[str, float]:
    start = time.perf_counter()
    head = HeadNode(
        "bench",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=0,
        discovery_port=None,
        state_dir=tempfile.mkdtemp(),
    )
    head.start(n_local_workers=2, threads_per_worker=1)
    cm = head.cluster_manager
    cm.submit_task(noop, 1).result()
    first = time.perf_counter() - start
    rss = tree_rss_mib()
    t = time.perf_counter()
    assert cm.gather([cm.submit_task(noop, i) for i in range(tasks)]) == list(range(tasks))
    rate = tasks / (time.perf_counter() - t)
    t = time.perf_counter()
    head.shutdown()
    return {"first": first, "stop": time.perf_counter() - t, "rss": rss, "rate": rate}


def dask(tasks: int) -> dict[str, float]:
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    client = Client(cluster)
    client.submit(noop, 1, pure=False).result()
    first = time.perf_counter() - start
    rss = tree_rss_mib()
    t = time.perf_counter()
    futures = [client.submit(noop, i, pure=False) for i in range(tasks)]
    assert client.gather(futures) == list(range(tasks))
    rate = tasks / (time.perf_counter() - t)
    del futures
    t = time.perf_counter()
    client.close()
    cluster.close()
    return {"first": first, "stop": time.perf_counter() - t, "rss": rss, "rate": rate}


SUBREAPER = """
import ctypes, subprocess, sys
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
sys.exit(subprocess.call(sys.argv[1:]))
"""


def under_subreaper(which: str) -> float:
    """Stop time of one start/stop run in a child of a subreaper."""
    out = subprocess.run(
        [sys.executable, "-c", SUBREAPER, sys.executable, __file__, "--one", which],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["stop"])


def figure(name: str, a: list[float], b: list[float], unit: str, **extra: Any) -> None:
    o, d = statistics.median(a), statistics.median(b)
    emit(
        figure=name,
        pycluster=round(o, 3),
        dask_localcluster=round(d, 3),
        ratio=round(o / d, 2),
        unit=unit,
        **extra,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=["ours", "dask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps((ours if args.one == "ours" else dask)(10)))
        return
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "dask": []}
    for _ in range(args.rounds):
        runs["ours"].append(ours(args.tasks))
        runs["dask"].append(dask(args.tasks))
    for key, name, unit in [
        ("first", "start_to_first_result_s", "s"),
        ("stop", "stop_s", "s"),
        ("rss", "rss_mib", "MiB"),
        ("rate", "throughput_tasks_per_s", "tasks/s"),
    ]:
        figure(name, [r[key] for r in runs["ours"]], [r[key] for r in runs["dask"]], unit, rounds=args.rounds)
    if sys.platform == "linux":
        sub_ours = [under_subreaper("ours") for _ in range(args.rounds)]
        sub_dask = [under_subreaper("dask") for _ in range(args.rounds)]
        figure("stop_under_subreaper_s", sub_ours, sub_dask, "s", rounds=args.rounds)


if __name__ == "__main__":
    main()
