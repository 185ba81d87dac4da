"""HeadNode and ClusterManager against a real Dask cluster on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import time
import traceback

import dask
import httpx
import psutil
import pytest

from pycluster import ClusterError, ClusterManager, ConfigError, HeadNode, PortInUseError
from pycluster.cluster.batching import BatchItemFuture
from tests.helpers import all_gone, descendants, wait_for


class InventoryError(Exception):
    pass


def fails_on_three(x: int) -> int:
    if x == 3:
        raise InventoryError(f"item {x} is out of stock")
    return x * 10


def test_start_returns_the_documented_dict(head: HeadNode) -> None:
    info = head.get_connection_info()
    # every head has a cluster key, loopback ones too: TLS only
    assert info["scheduler_address"].startswith("tls://127.0.0.1:")
    assert info["dashboard_url"].startswith("http://127.0.0.1:")
    assert info["dashboard_address"] == info["dashboard_url"]
    assert info["worker_command"] == f"pycluster worker --scheduler {info['scheduler_address']}"
    status = head.get_cluster_status()
    assert status["status"] == "running"
    assert status["n_workers"] == 2
    assert status["total_cores"] == 2


def test_quick_start_lambda(head: HeadNode) -> None:
    future = head.cluster_manager.submit_task(lambda x: x**2, 10)
    assert future.result(timeout=30) == 100


def test_task_error_keeps_type_and_remote_traceback(head: HeadNode) -> None:
    future = head.cluster_manager.submit_task(fails_on_three, 3)
    with pytest.raises(InventoryError, match="out of stock") as caught:
        future.result(timeout=30)
    assert "fails_on_three" in "".join(traceback.format_tb(caught.value.__traceback__))


def test_map_tasks_batches_many_items_in_order(head: HeadNode) -> None:
    futures = head.cluster_manager.map_tasks(lambda x: x * 2, range(100_000))
    assert len(futures) == 100_000
    assert isinstance(futures[0], BatchItemFuture)
    results = head.cluster_manager.gather(futures, timeout=60)
    assert results == [x * 2 for x in range(100_000)]


def test_map_tasks_zips_iterables_and_passes_kwargs(head: HeadNode) -> None:
    def scaled_sum(a: int, b: int, scale: int = 1) -> int:
        return (a + b) * scale

    few = head.cluster_manager.map_tasks(scaled_sum, [1, 2], [10, 20], scale=3)
    assert [f.result(timeout=30) for f in few] == [33, 66]
    many = head.cluster_manager.map_tasks(scaled_sum, range(500), range(500), scale=2)
    assert head.cluster_manager.gather(many) == [4 * x for x in range(500)]


def test_map_tasks_error_only_fails_its_own_item(head: HeadNode) -> None:
    futures = head.cluster_manager.map_tasks(fails_on_three, range(1000))
    assert futures[2].result(timeout=30) == 20
    with pytest.raises(InventoryError, match="item 3"):
        futures[3].result(timeout=30)
    assert futures[3].status == "error"
    assert futures[999].result(timeout=30) == 9990


def test_map_tasks_rejects_no_iterables(head: HeadNode) -> None:
    with pytest.raises(ValueError, match="at least one iterable"):
        head.cluster_manager.map_tasks(abs)
    assert head.cluster_manager.map_tasks(abs, []) == []


def test_api_status_workers_health_and_docs(head: HeadNode) -> None:
    base = head.dashboard_url
    status = httpx.get(f"{base}/api/cluster/status", timeout=10).json()
    assert status["n_workers"] == 2
    assert status["scheduler_address"] == head.scheduler_address
    workers = httpx.get(f"{base}/api/cluster/workers", timeout=10).json()
    assert {w["address"] for w in workers["workers"]} == set(head.cluster_manager.client.nthreads())
    assert httpx.get(f"{base}/api/health", timeout=10).json()["status"] == "healthy"
    assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
    assert "/api/cluster/status" in httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]


def test_landing_page_links_to_dask_diagnostics(head: HeadNode) -> None:
    # the dashboard page holds no data (it may need a token): it links what the API reports
    page = httpx.get(head.dashboard_url, timeout=10).text
    assert 'id="dask-top-link"' in page
    status = httpx.get(f"{head.dashboard_url}/api/cluster/status", timeout=10).json()
    assert head.dask_dashboard_url and status["dask_dashboard_url"] == head.dask_dashboard_url
    assert httpx.get(head.dask_dashboard_url, timeout=20).status_code == 200


def test_start_twice_starts_no_second_cluster(head: HeadNode) -> None:
    before = head.scheduler_address
    again = head.start(n_local_workers=2)
    assert again["status"] == "already_running"
    assert "shutdown()" in again["message"]
    assert again["scheduler_address"] == before
    assert head.get_cluster_status()["n_workers"] == 2


def test_port_in_use_names_the_port_and_free_ones() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = HeadNode("clash", scheduler_port=port, dashboard_port=0, dask_dashboard_port=False)
        with pytest.raises(PortInUseError) as caught:
            node.start()
    message = str(caught.value)
    assert f"port {port}" in message and "free ports nearby" in message
    assert caught.value.free_ports and port not in caught.value.free_ports
    assert not node.is_running


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_local_workers": -1}, "n_workers must be a whole number >= 0"),
        ({"n_local_workers": 1, "memory_limit": "lots"}, "memory_limit"),
        ({"n_local_workers": 1, "worker_resources": "GPU"}, "resource 'GPU' has no '='"),
        ({"n_local_workers": 1, "threads_per_worker": 0}, "threads_per_worker"),
    ],
)
def test_bad_start_arguments_raise_value_error_and_start_nothing(kwargs: dict, pattern: str) -> None:
    node = HeadNode("bad", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False)
    with pytest.raises(ValueError, match=pattern) as caught:
        node.start(**kwargs)
    assert isinstance(caught.value, ConfigError)
    assert not node.is_running


def test_connect_to_a_plain_dask_scheduler() -> None:
    from distributed import LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as plain,
        ClusterManager.connect(plain.scheduler_address) as manager,
    ):
        assert manager.submit_task(sum, [1, 2, 3]).result(timeout=30) == 6
        info = manager.get_cluster_info()
        assert info["status"] == "running" and info["n_workers"] == 1


def test_killed_worker_is_replaced_and_scale_up_down() -> None:
    with HeadNode("resilient", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as node:
        node.start(n_local_workers=1, threads_per_worker=1)
        manager = node.cluster_manager
        (process,) = manager.local_worker_processes
        old_address = process.worker_addresses[0]
        worker_proc = psutil.Process(manager.client.run(os.getpid)[old_address])
        assert worker_proc.pid == process.pid  # one process per worker, no Nanny in between
        worker_proc.kill()
        wait_for(lambda: not worker_proc.is_running(), 10)

        def replaced() -> bool:
            workers = manager.client.nthreads()
            return len(workers) == 1 and old_address not in workers

        wait_for(replaced, 60, what="the head's LocalWorkers to restart the killed worker")
        assert node.local_workers.restarts == 1
        assert manager.submit_task(lambda: "still answering").result(timeout=30) == "still answering"

        # Client.restart() removes workers that have no Nanny: they come back all the same
        before = set(manager.client.nthreads())
        manager.client.restart(timeout=60)
        wait_for(lambda: len(manager.client.nthreads()) == 1, 60, what="the restarted worker to rejoin")
        assert set(manager.client.nthreads()) != before
        assert node.local_workers.restarts == 2

        manager.scale(2)
        assert len(manager.client.nthreads()) == 2
        removed = manager.local_worker_processes[1]
        family = [psutil.Process(removed.pid), *descendants(removed.pid)]
        manager.scale(1)
        wait_for(lambda: len(manager.client.nthreads()) == 1, 30)
        wait_for(lambda: all_gone(family), 20, what="the retired worker's processes to exit")


def test_shutdown_leaves_no_child_process() -> None:
    node = HeadNode("tidy", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False)
    node.start(n_local_workers=2, threads_per_worker=1)
    family = [
        p
        for w in node.cluster_manager.local_worker_processes
        for p in [psutil.Process(w.pid), *descendants(w.pid)]
    ]
    assert len(family) >= 2  # a worker process each
    node.shutdown()
    wait_for(lambda: all_gone(family), 20, what="worker processes to exit")
    assert node.get_cluster_status()["status"] == "stopped"
    node.shutdown()  # a second call is harmless


def test_worker_over_its_memory_limit_is_ended_and_replaced() -> None:
    """As a Nanny would: a task that blows its worker's memory limit kills that worker, not the
    machine; the worker is started again and the task fails with KilledWorker, saying so."""
    from distributed import KilledWorker

    def hog() -> int:
        block = b"x" * (400 * 2**20)  # written, so it is resident
        time.sleep(5)
        return len(block)

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),  # read as the scheduler starts
        HeadNode("frugal", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as node,
    ):
        node.start(n_local_workers=1, threads_per_worker=1, memory_limit="300MiB")
        manager = node.cluster_manager
        future = manager.client.submit(hog, pure=False)
        with pytest.raises(KilledWorker):
            future.result(timeout=60)
        wait_for(lambda: len(manager.client.nthreads()) == 1, 60, what="the worker to be started again")
        assert node.local_workers.restarts >= 1
        assert manager.submit_task(lambda: "fine").result(timeout=30) == "fine"


def test_loopback_head_workers_listen_on_loopback_only(head: HeadNode) -> None:
    """A cluster on 127.0.0.1 must not open its workers (which run any code sent) to the network."""
    listening = []
    for process in head.cluster_manager.local_worker_processes:
        for p in [psutil.Process(process.pid), *descendants(process.pid)]:
            listening += [c.laddr for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening, "the workers should listen somewhere"
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening


def test_second_head_on_the_same_state_dir_is_refused_until_the_first_stops(tmp_path) -> None:  # type: ignore[no-untyped-def]
    options = {
        "scheduler_port": 0,
        "dashboard_port": 0,
        "dask_dashboard_port": False,
        "state_dir": str(tmp_path),
    }
    first = HeadNode("first", **options)
    first.start(n_local_workers=0)
    try:
        second = HeadNode("second", **options)
        with pytest.raises(ClusterError, match=rf"another head node \(pid {os.getpid()}\).*--state-dir"):
            second.start(n_local_workers=0)
        assert not second.is_running
    finally:
        first.shutdown()
    second.start(n_local_workers=0)  # the lock went with the first head
    second.shutdown()
