"""The job queue on a real head: order, fairness, aging, admission, retries, cancel, progress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import (
    HeadNode,
    JobFailedError,
    JobRejectedError,
    JobStateError,
    JobStatus,
    Priority,
    report_progress,
)
from pycluster.jobs import JobQueue, Operation, OperationRegistry
from pycluster.jobs.handover import HANDED_OVER
from tests.helpers import wait_for


def wait_for_file(path: str, timeout: float = 60.0) -> str:
    """A task that blocks until ``path`` exists: lets a test hold the queue's only slot."""
    import os
    import time

    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(path)
        time.sleep(0.02)
    return "released"


def started_order(head: HeadNode, ids: list[str]) -> list[str]:
    jobs = [head.jobs.get(i) for i in ids]
    return [j.id for j in sorted(jobs, key=lambda j: j.started_at or float("inf"))]


@pytest.fixture(scope="module")
def serial_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    """One job at a time and fast aging, so dispatch order is observable."""
    import os

    os.environ["MAX_CONCURRENT_JOBS"] = "1"
    os.environ["PYCLUSTER_JOB_AGING_INTERVAL"] = "1.5s"
    os.environ["PYCLUSTER_JOB_CHECK_INTERVAL"] = "0.2s"
    try:
        node = HeadNode(
            "serial",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            state_dir=str(tmp_path_factory.mktemp("serial-state")),
        )
    finally:
        for name in ("MAX_CONCURRENT_JOBS", "PYCLUSTER_JOB_AGING_INTERVAL", "PYCLUSTER_JOB_CHECK_INTERVAL"):
            del os.environ[name]
    node.start(n_local_workers=2, threads_per_worker=1)
    yield node
    node.shutdown()


def test_higher_priority_first_fifo_within_a_level(serial_head: HeadNode, tmp_path: Path) -> None:
    gate = str(tmp_path / "go")
    blocker = serial_head.jobs.submit(wait_for_file, gate, priority=Priority.CRITICAL)
    wait_for(lambda: blocker.status() == JobStatus.RUNNING, 30)
    submitted = [
        serial_head.jobs.submit(abs, -1, priority=p).job_id
        for p in (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.NORMAL, Priority.CRITICAL)
    ]
    Path(gate).touch()
    for job_id in submitted:
        serial_head.jobs.wait(job_id, 30)
    low, normal_1, high, normal_2, critical = submitted
    assert started_order(serial_head, submitted) == [critical, high, normal_1, normal_2, low]


def test_waiting_low_job_ages_past_a_stream_of_high_jobs(serial_head: HeadNode, tmp_path: Path) -> None:
    gate = str(tmp_path / "go")
    blocker = serial_head.jobs.submit(wait_for_file, gate, priority=Priority.CRITICAL)
    wait_for(lambda: blocker.status() == JobStatus.RUNNING, 30)
    low = serial_head.jobs.submit(abs, -1, priority=Priority.LOW).job_id
    time.sleep(3.2)  # two aging intervals of 1.5 s: LOW now stands at HIGH's level, and is older
    highs = [serial_head.jobs.submit(abs, -2, priority=Priority.HIGH).job_id for _ in range(3)]
    Path(gate).touch()
    for job_id in [low, *highs]:
        serial_head.jobs.wait(job_id, 30)
    assert started_order(serial_head, [low, *highs])[0] == low


def test_one_clients_many_jobs_do_not_block_another_client(tmp_path: Path) -> None:
    import os

    os.environ["MAX_CONCURRENT_JOBS"] = "2"
    try:
        node = HeadNode(
            "fair",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            state_dir=str(tmp_path / "state"),
        )
    finally:
        del os.environ["MAX_CONCURRENT_JOBS"]
    with node:
        node.start(n_local_workers=2, threads_per_worker=1)
        gate = str(tmp_path / "go")
        busy = [node.jobs.submit(wait_for_file, gate, client_id="alice").job_id for _ in range(2)]
        wait_for(lambda: all(node.jobs.get(i).status == JobStatus.RUNNING for i in busy), 30)
        # a tenth of a second each: start times are taken on the head as workers report them, so
        # trivial jobs a worker runs in a millisecond each would be ordered by that noise
        alice_more = [node.jobs.submit(time.sleep, 0.1, client_id="alice").job_id for i in range(5)]
        bob = node.jobs.submit(abs, -9, client_id="bob").job_id
        # alice's jobs were handed to the cluster ahead of a free core (look-ahead): bob's goes
        # ahead of them once the dispatcher has handed it over too, with a higher Dask priority
        wait_for(lambda: node.jobs.get(bob).waiting_reason == HANDED_OVER, 30)
        Path(gate).touch()
        for job_id in [*alice_more, bob]:
            node.jobs.wait(job_id, 30)
        order = started_order(node, [*alice_more, bob])
        # alice had both slots when a slot freed, so bob's single job went next
        assert order.index(bob) <= 1


def test_priority_reaches_dask(serial_head: HeadNode) -> None:
    handle = serial_head.jobs.submit_job("sleep", {"seconds": 1.0, "pieces": 1}, priority="HIGH")
    client = serial_head.cluster_manager.client

    def priorities(dask_scheduler=None):  # type: ignore[no-untyped-def]
        return [ts.priority for key, ts in dask_scheduler.tasks.items() if handle.id in str(key)]

    found = wait_for(lambda: client.run_on_scheduler(priorities), 20)
    # Dask runs smaller priority tuples first and stores -priority first; the queue gives it 1000
    # per level plus a fairness bonus below 1000 (policy.dask_priority)
    assert -found[0][0] // 1000 == int(Priority.HIGH)
    serial_head.jobs.wait(handle.id, 30)


def test_retries_then_fails_keeping_error_and_attempts(serial_head: HeadNode, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"

    def flaky(path: str) -> str:
        with open(path, "a") as f:
            f.write("x")
        raise RuntimeError("disk on fire")

    handle = serial_head.jobs.submit(flaky, str(counter), retries=2)
    with pytest.raises(JobFailedError, match="disk on fire"):
        handle.result(timeout=60)
    job = serial_head.jobs.get(handle.job_id)
    assert job.status == JobStatus.FAILED
    assert job.attempts == 3 and counter.read_text() == "xxx"
    assert "RuntimeError: disk on fire" in (job.error or "")


def test_retry_succeeds_after_a_transient_failure(serial_head: HeadNode, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"

    def second_time_lucky(path: str) -> str:
        with open(path, "a") as f:
            f.write("x")
        with open(path) as f:
            if len(f.read()) < 2:
                raise ConnectionError("flaky network")
        return "ok"

    handle = serial_head.jobs.submit(second_time_lucky, str(counter))
    assert handle.result(timeout=60) == "ok"
    assert serial_head.jobs.get(handle.job_id).attempts == 1


def test_cancel_queued_and_running_and_refuse_finished(serial_head: HeadNode, tmp_path: Path) -> None:
    gate = str(tmp_path / "never")
    running = serial_head.jobs.submit(wait_for_file, gate, priority=Priority.CRITICAL)
    wait_for(lambda: running.status() == JobStatus.RUNNING, 30)
    queued = serial_head.jobs.submit(abs, -1)
    assert queued.status() in {JobStatus.PENDING, JobStatus.QUEUED}
    queued.cancel()
    assert queued.status() == JobStatus.CANCELLED
    running.cancel()
    assert running.status() == JobStatus.CANCELLED
    # Dask cannot interrupt Python code already running in a worker thread: end it ourselves
    Path(gate).touch()
    with pytest.raises(JobStateError, match="cancelled"):
        running.result(timeout=5)
    # the slot is free again: the next job runs
    after = serial_head.jobs.submit(abs, -5)
    assert after.result(timeout=30) == 5
    with pytest.raises(JobStateError, match="already completed"):
        after.cancel()


def test_job_that_can_never_fit_is_refused_at_submit(serial_head: HeadNode) -> None:
    with pytest.raises(JobRejectedError, match=r"more than the whole cluster has \(2 cores\)"):
        serial_head.jobs.submit(abs, -1, max_cores=64)
    with pytest.raises(JobRejectedError, match="max_memory_gb"):
        serial_head.jobs.submit(abs, -1, max_memory_gb=1e5)
    with pytest.raises(JobRejectedError, match="unknown priority"):
        serial_head.jobs.submit(abs, -1, priority="URGENT")
    with pytest.raises(TypeError, match="cannot be pickled"):
        serial_head.jobs.submit(abs, _Unpicklable())


class _Unpicklable:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise TypeError("no pickling for me")


def test_progress_reported_from_inside_a_task(serial_head: HeadNode) -> None:
    def counting(n: int) -> int:
        import time

        for i in range(n):
            time.sleep(0.1)
            report_progress(i + 1, n)
        return n

    handle = serial_head.jobs.submit(counting, 20)
    seen = wait_for(lambda: 0 < handle.progress()["progress"] < 100 and handle.progress(), 30)
    assert seen["eta_seconds"] is not None and seen["eta_seconds"] > 0
    assert handle.result(timeout=30) == 20
    assert handle.progress()["progress"] == 100.0
    assert report_progress(1, 2) is False  # outside a task: ignored


def test_map_job_progress_per_item_and_results_in_order(serial_head: HeadNode) -> None:
    def slow_square(x: int) -> int:
        import time

        time.sleep(0.15)
        return x * x

    handle = serial_head.jobs.map(slow_square, range(12), max_cores=2)
    midway = wait_for(lambda: 0 < handle.progress()["pieces_done"] < 12 and handle.progress(), 30)
    assert midway["pieces_total"] == 12 and midway["eta_seconds"] is not None
    assert handle.result(timeout=60) == [x * x for x in range(12)]


class _Triple(Operation):
    name = "triple"

    def plan(self, job, context):  # type: ignore[no-untyped-def]
        return list(job.parameters["values"])

    def piece_function(self):  # type: ignore[no-untyped-def]
        def triple(x: int) -> int:
            return 3 * x

        return triple

    def combine(self, job, results, context):  # type: ignore[no-untyped-def]
        return sum(results)


def test_a_queue_runs_the_operations_it_is_handed(serial_head: HeadNode, tmp_path: Path) -> None:
    from distributed import Client

    head_client = serial_head.cluster_manager.client  # a client of its own: the head's queue keeps its topic
    with Client(head_client.scheduler.address, security=head_client.security, set_as_default=False) as client:
        queue = JobQueue(client, tmp_path / "state", operations=OperationRegistry([_Triple()])).start()
        try:
            job = queue.submit_job("triple", {"values": [1, 2, 3]})
            assert queue.wait(job.id, 30).result == 18
            with pytest.raises(JobRejectedError, match=r"unknown operation 'echo'; available: triple"):
                queue.submit_job("echo", {"value": 1})
        finally:
            queue.stop()
