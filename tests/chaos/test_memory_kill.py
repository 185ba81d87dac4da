"""A task that blows its local worker's memory limit fails with an error that says so."""

from __future__ import annotations

import time

import dask
import pytest
from distributed import KilledWorker

from pycluster import HeadNode
from pycluster.errors import ClusterError
from tests.helpers import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def hog() -> int:
    block = b"x" * (400 * 2**20)  # written, so it is resident: over 95% of a 300 MiB limit
    time.sleep(5)
    return len(block)


def test_memory_killed_task_names_its_limit_worker_and_task() -> None:
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),  # read as the scheduler starts
        HeadNode("frugal", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as node,
    ):
        node.start(n_local_workers=1, threads_per_worker=1, memory_limit="300MiB")
        worker = node.local_workers.addresses[0]
        future = node.cluster_manager.client.submit(hog, pure=False, key="hog-1")
        started = time.monotonic()
        with pytest.raises(KilledWorker) as killed:
            future.result(timeout=60)
        seconds = time.monotonic() - started
        explained = node.local_workers.memory_kills.explain(killed.value)
        assert isinstance(explained, ClusterError)
        message = str(explained)
        print(f"memory kill after {seconds:.1f}s: {message}")
        assert "'hog-1'" in message and worker in message, message
        assert "300 MiB memory limit" in message and "too much memory" in message, message
        # its replacement (a new address) has no kill against it: a later death there is not blamed on memory
        wait_for(
            lambda: node.local_workers.addresses and worker not in node.local_workers.addresses,
            60,
            what="the worker to be started again",
        )
        assert node.local_workers.memory_kills.last_for(node.local_workers.addresses[0]) is None
        assert node.local_workers.memory_kills.explain(RuntimeError("boom")) is None


def test_a_job_whose_piece_was_ended_for_memory_says_so() -> None:
    from pycluster.jobs import JobStatus

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        HeadNode("frugal-jobs", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as node,
    ):
        node.start(n_local_workers=1, threads_per_worker=1, memory_limit="300MiB")
        job = node.jobs.submit(hog, retries=0, max_memory_gb=0.1)
        done = node.jobs.wait(job.job_id, 90)
        print(f"job error: {done.error}")
        assert done.status == JobStatus.FAILED
        assert done.error and "too much memory" in done.error and "300 MiB memory limit" in done.error
