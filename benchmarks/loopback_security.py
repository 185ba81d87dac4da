"""What the cluster key costs a loopback head, against Dask's own LocalCluster + Client.

Every head has a cluster key (TLS with mutual authentication), loopback ones too. This
prints one JSON line per figure, each with ratios in the same run:
- start to first result: keyed HeadNode, ``insecure=True`` HeadNode, LocalCluster + Client;
- no-op tasks, one ``client.submit`` each and one ``client.gather``: the same three clusters.
Median of ``--rounds`` rounds, 2 worker processes x 1 thread each.

    python benchmarks/loopback_security.py [--tasks 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

from pycluster import HeadNode


def noop(x: int) -> int:
    return x


@contextmanager
def keyed_head(insecure: bool) -> Iterator[Client]:
    state = tempfile.mkdtemp(prefix="bench-state-")
    with HeadNode(
        "bench", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, discovery_port=None,
        services=(), state_dir=state, insecure=insecure,
    ) as head:  # fmt: skip
        head.start(n_local_workers=2, threads_per_worker=1)
        yield head.cluster_manager.client


@contextmanager
def local_cluster() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", scheduler_port=0, dashboard_address=None
        ) as lc,
        Client(lc) as client,
    ):
        yield client


CLUSTERS: dict[str, Callable[[], object]] = {
    "pycluster_keyed": lambda: keyed_head(insecure=False),
    "pycluster_insecure": lambda: keyed_head(insecure=True),
    "dask_localcluster": local_cluster,
}


def one_round(make: Callable[[], object], tasks: int) -> tuple[float, float]:
    started = time.perf_counter()
    with make() as client:  # type: ignore[attr-defined]
        client.submit(noop, -1).result()
        first = time.perf_counter() - started
        started = time.perf_counter()
        client.gather([client.submit(noop, i, pure=False) for i in range(tasks)])
        run = time.perf_counter() - started
    return first, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    firsts: dict[str, list[float]] = {name: [] for name in CLUSTERS}
    runs: dict[str, list[float]] = {name: [] for name in CLUSTERS}
    for i in range(args.rounds):
        names = list(CLUSTERS) if i % 2 == 0 else list(reversed(CLUSTERS))  # neither side always first
        for name in names:
            first, run = one_round(CLUSTERS[name], args.tasks)
            firsts[name].append(first)
            runs[name].append(run)
    first = {name: statistics.median(v) for name, v in firsts.items()}
    rate = {name: args.tasks / statistics.median(v) for name, v in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "start_to_first_result_s",
                **{k: round(v, 3) for k, v in first.items()},
                "keyed_vs_insecure": round(first["pycluster_keyed"] / first["pycluster_insecure"], 3),
                "keyed_vs_localcluster": round(first["pycluster_keyed"] / first["dask_localcluster"], 3),
            }
        )
    )
    print(
        json.dumps(
            {
                "benchmark": "submit_gather_tasks_per_s",
                "tasks": args.tasks,
                **{k: round(v, 1) for k, v in rate.items()},
                "keyed_vs_insecure": round(rate["pycluster_keyed"] / rate["pycluster_insecure"], 3),
                "keyed_vs_localcluster": round(rate["pycluster_keyed"] / rate["dask_localcluster"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
