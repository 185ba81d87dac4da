"""``ClusterManager.connect`` to a cluster the dask-kubernetes operator made.

No Kubernetes runs here. What the operator runs is Dask's own processes: its scheduler pod
runs ``dask scheduler`` behind a Service on port 8786, its worker pods ``dask worker``
(docs/how-to/dask-kubernetes.md). These are those same commands on loopback, reached the way
``kubectl port-forward svc/NAME-scheduler 8786`` reaches them from a laptop.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster.cluster import ClusterManager

from ..helpers import BIN, wait_for


def _dask(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(BIN / "dask"), *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


@pytest.fixture
def operator_like_cluster(tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "dask.log"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0", log=log)
    processes = [scheduler]
    try:
        address = wait_for(
            lambda: next((w for w in log.read_text().split() if w.startswith("tcp://127.0.0.1:")), None),
            60,
            what=f"the scheduler's address in {log}",
        )
        processes.append(_dask("worker", address, "--nthreads", "1", "--no-dashboard", log=log))
        yield address
    finally:
        for p in reversed(processes):
            p.terminate()
            p.wait(30)


@pytest.mark.slow
def test_connect_to_a_plain_dask_scheduler_and_its_dask_workers(operator_like_cluster: str) -> None:
    with ClusterManager.connect(operator_like_cluster, timeout=30) as manager:
        wait_for(lambda: manager.get_cluster_info()["n_workers"] == 1, 60, what="the dask worker")
        futures = manager.map_tasks(pow, range(10), [3] * 10)
        assert manager.gather(futures) == [x**3 for x in range(10)]
