"""Look-ahead dispatch on a real head (2 workers x 1 thread, ``dispatch_lookahead`` 2 per thread,
below the default 32 so that a dozen jobs fill it):
small jobs handed to the cluster ahead of a free core stay ``queued`` until a worker starts them,
a CRITICAL job still overtakes the NORMAL ones that have not started, and a handed-over job is
cancelled without its code running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import HeadNode, JobStatus, Priority
from pycluster.jobs.handover import HANDED_OVER
from tests.helpers import wait_for


def wait_for_file(path: str, timeout: float = 60.0) -> str:
    """Blocks until ``path`` exists: holds a worker's only thread."""
    import os
    import time

    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(path)
        time.sleep(0.02)
    return "released"


def touch_after(path: str, seconds: float) -> str:
    """Writes ``path`` (proof that this job's code ran), then sleeps."""
    import time

    Path(path).write_text("ran")
    time.sleep(seconds)
    return path


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    import os

    os.environ["PYCLUSTER_JOB_DISPATCH_LOOKAHEAD"] = "2"
    try:
        node = HeadNode(
            "lookahead",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            state_dir=str(tmp_path_factory.mktemp("lookahead-state")),
        )
    finally:
        del os.environ["PYCLUSTER_JOB_DISPATCH_LOOKAHEAD"]
    node.start(n_local_workers=2, threads_per_worker=1)
    assert node.jobs.settings.dispatch_lookahead == 2
    yield node
    node.shutdown()


def _handed(head: HeadNode, ids: list[str]) -> list[str]:
    return [i for i in ids if head.jobs.get(i).waiting_reason == HANDED_OVER]


def test_a_handed_over_job_is_queued_and_cancelled_without_running(head: HeadNode, tmp_path: Path) -> None:
    gate = str(tmp_path / "go")
    busy = [head.jobs.submit(wait_for_file, gate) for _ in range(2)]
    wait_for(lambda: all(h.status() == JobStatus.RUNNING for h in busy), 30, what="both workers busy")
    markers = [tmp_path / f"ran-{i}" for i in range(3)]
    waiting = [head.jobs.submit(touch_after, str(m), 0.0) for m in markers]
    ids = [h.job_id for h in waiting]
    wait_for(lambda: len(_handed(head, ids)) == 3, 30, what="the three jobs handed to the cluster")
    for job_id in ids:  # on the cluster, not running: what a user reads says so
        job = head.jobs.get(job_id)
        assert (job.status, job.started_at) == (JobStatus.QUEUED, None), job
    workers_before = set(head.cluster_manager.client.scheduler_info()["workers"])

    waiting[1].cancel()
    Path(gate).touch()
    assert [h.result(timeout=60) for h in busy] == ["released", "released"]
    assert waiting[0].result(timeout=60) == str(markers[0])
    assert waiting[2].result(timeout=60) == str(markers[2])
    assert waiting[1].status() == JobStatus.CANCELLED
    assert markers[0].exists() and markers[2].exists()
    assert not markers[1].exists(), "the cancelled job's code ran"
    ran = [head.jobs.get(i) for i in (ids[0], ids[2])]
    assert all(j.started_at is not None and j.started_at <= j.finished_at for j in ran), ran  # type: ignore[operator]
    # a job that never started needs no worker process ended to stop it
    assert set(head.cluster_manager.client.scheduler_info()["workers"]) == workers_before


def test_a_critical_job_overtakes_normal_jobs_that_have_not_started(head: HeadNode, tmp_path: Path) -> None:
    normal = [head.jobs.submit(touch_after, str(tmp_path / f"n{i}"), 0.4).job_id for i in range(12)]
    wait_for(
        lambda: sum(head.jobs.get(i).status == JobStatus.RUNNING for i in normal) == 2,
        30,
        what="two NORMAL jobs running",
    )
    handed = _handed(head, normal)
    assert 0 < len(handed) <= 4, handed  # 2 per worker thread, no more
    critical = head.jobs.submit(touch_after, str(tmp_path / "c"), 0.0, priority=Priority.CRITICAL)
    submitted_at = head.jobs.get(critical.job_id).created_at
    critical.result(timeout=60)
    for job_id in normal:
        head.jobs.wait(job_id, 60)
    started = head.jobs.get(critical.job_id).started_at
    assert started is not None
    jobs = {i: head.jobs.get(i) for i in normal}
    in_queue = [i for i in normal if i not in handed and (jobs[i].started_at or 0) > submitted_at]
    before_it = [i for i in in_queue if jobs[i].started_at < started]  # type: ignore[operator]
    assert not before_it, "NORMAL jobs still in the queue started before the CRITICAL one"
    # of those already handed over, only what a worker had already been sent (Dask sends one
    # task ahead per thread) can start first, or one that started while the CRITICAL job was
    # being handed over
    overtaking = [i for i in handed if submitted_at < jobs[i].started_at < started]  # type: ignore[operator]
    assert len(overtaking) <= 3, overtaking
    print(f"CRITICAL started {started - submitted_at:.2f} s after submission, {len(overtaking)} NORMAL first")
