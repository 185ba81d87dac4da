"""What pycluster's wrappers cost over raw Dask, on the same cluster, in one run.

Prints one JSON line per figure:
- 5,000 no-op tasks through ClusterManager.submit_task vs distributed.Client.submit,
- 5,000 no-op tasks through map_tasks (automatic batching, and batch_size=1) vs Client.map,
- start-up to the first result: HeadNode.start(n_local_workers=2) vs distributed.LocalCluster(2).
``ratio`` is pycluster's time / raw Dask's time (target <= 1.10); median of 3 rounds.

    python benchmarks/overhead.py [--tasks 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from distributed import Client, LocalCluster, wait

from pycluster import HeadNode


def noop(x: int) -> int:
    return x


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def compare(name: str, ours: Callable[[], object], raw: Callable[[], object], n: int, rounds: int) -> None:
    ours_times, raw_times = [], []
    for i in range(rounds):
        # alternate the order so neither side always runs on a warmer cluster
        pair = [(ours_times, ours), (raw_times, raw)]
        for times, run in pair if i % 2 == 0 else reversed(pair):
            times.append(timed(run))
    ours_s, raw_s = statistics.median(ours_times), statistics.median(raw_times)
    emit(
        benchmark=name, tasks=n, pycluster_seconds=round(ours_s, 4), dask_seconds=round(raw_s, 4),
        pycluster_tasks_per_s=round(n / ours_s, 1), dask_tasks_per_s=round(n / raw_s, 1),
        ratio=round(ours_s / raw_s, 3), target="ratio <= 1.10",
    )


def throughput(n: int, rounds: int) -> None:
    with HeadNode("bench", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as head:
        head.start(n_local_workers=2, threads_per_worker=1)
        cm = head.cluster_manager
        client: Client = cm.client
        items = list(range(n))
        compare(
            "submit_task_vs_client_submit",
            lambda: wait([cm.submit_task(noop, i) for i in items]),
            lambda: wait([client.submit(noop, i, pure=False) for i in items]),
            n, rounds,
        )
        compare(
            "map_tasks_vs_client_map",
            lambda: cm.gather(cm.map_tasks(noop, items)),
            lambda: client.gather(client.map(noop, items, pure=False)),
            n, rounds,
        )
        compare(
            "map_tasks_unbatched_vs_client_map",
            lambda: cm.gather(cm.map_tasks(noop, items, batch_size=1)),
            lambda: client.gather(client.map(noop, items, pure=False)),
            n, rounds,
        )


def head_startup() -> float:
    start = time.perf_counter()
    with HeadNode("bench-start", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as head:
        head.start(n_local_workers=2, threads_per_worker=1)
        head.cluster_manager.submit_task(noop, 1).result()
        return time.perf_counter() - start


def local_cluster_startup() -> float:
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
    with cluster as lc, Client(lc) as client:
        client.submit(noop, 1).result()
        return time.perf_counter() - start


def startup(rounds: int) -> None:
    ours = statistics.median(head_startup() for _ in range(rounds))
    raw = statistics.median(local_cluster_startup() for _ in range(rounds))
    emit(
        benchmark="startup_to_first_result", workers=2, pycluster_seconds=round(ours, 3),
        dask_local_cluster_seconds=round(raw, 3), ratio=round(ours / raw, 3),
        note="HeadNode also starts the web app; LocalCluster starts no dashboard here",
    )


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    throughput(args.tasks, args.rounds)
    startup(args.rounds)


if __name__ == "__main__":
    main()
