"""WorkerNode joining a real head, resources, and failures that say what to do."""

from __future__ import annotations

import socket
import time

import psutil
import pytest

from pycluster import ConfigError, HeadNode, SchedulerUnreachableError, WorkerNode
from tests.helpers import all_gone, descendants, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_node_joins_runs_a_gpu_task_and_shuts_down(head: HeadNode) -> None:
    manager = head.cluster_manager
    worker = WorkerNode(head.scheduler_address, worker_name="gpu-box")
    result = worker.start(n_workers=1, threads_per_worker=1, resources={"GPU": 1})
    try:
        assert result["status"] == "success"
        (address,) = result["workers"]
        assert worker.get_status()["status"] == "running"
        wait_for(lambda: address in manager.client.nthreads(), 20)
        # a GPU task only lands on the worker that declares the resource
        where = manager.submit_task(lambda: __import__("os").getpid(), resources={"GPU": 1})
        pid = where.result(timeout=30)
        assert psutil.Process(pid) in descendants(result["pid"])
        names = {w["name"]: w for w in head.get_cluster_status()["workers"]}
        assert names["gpu-box"]["resources"] == {"GPU": 1.0}
        family = [psutil.Process(result["pid"]), *descendants(result["pid"])]
    finally:
        worker.shutdown()
    wait_for(lambda: all_gone(family), 20, what="the worker node's processes to exit")
    wait_for(lambda: address not in manager.client.nthreads(), 20)
    assert worker.get_status()["status"] == "stopped"


def test_two_gpu_tasks_never_share_one_gpu(head: HeadNode) -> None:
    worker = WorkerNode(head.scheduler_address)
    worker.start(n_workers=1, threads_per_worker=2, resources="GPU=1")
    try:

        def hold_gpu() -> tuple[float, float]:
            start = time.time()
            time.sleep(0.5)
            return start, time.time()

        futures = [head.cluster_manager.submit_task(hold_gpu, resources={"GPU": 1}) for _ in range(2)]
        (_, a_end), (b_start, _) = sorted(f.result(timeout=30) for f in futures)
        assert b_start >= a_end - 0.01  # two threads, but one GPU: they ran one after the other
    finally:
        worker.shutdown()


def test_unreachable_scheduler_fails_within_timeout_naming_address() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    worker = WorkerNode(address, timeout=2)
    started = time.monotonic()
    with pytest.raises(SchedulerUnreachableError, match=address):
        worker.start()
    assert time.monotonic() - started < 10
    assert worker.get_status()["status"] == "stopped"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_workers": -1}, "n_workers"),
        ({"memory_limit": "2 bananas"}, "memory_limit"),
        ({"resources": "GPU:1"}, "resource 'GPU:1' has no '='"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        WorkerNode("tcp://127.0.0.1:8786").start(**kwargs)


def test_bad_address_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        WorkerNode("tcp://nohost:notaport").start()


def test_worker_dask_config_travels_as_dask_environment_variables() -> None:
    from pycluster.cluster.worker_options import WorkerOptions

    options = WorkerOptions.create(
        "tcp://127.0.0.1:8786",
        dask_config={
            "distributed.worker.profile.enabled": False,
            "distributed.worker.memory.monitor-interval": "1s",
        },
    )
    assert options.dask_env() == {
        "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",  # what ast.literal_eval reads back as False
        "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    }
    assert WorkerOptions.create("tcp://127.0.0.1:8786").dask_env() == {}
    with pytest.raises(ConfigError, match="dotted Dask names"):
        WorkerOptions.create("tcp://127.0.0.1:8786", dask_config={"not a key": 1})
