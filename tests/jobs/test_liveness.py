"""Jobs never hang: time limits, cancels that stop running code, and workers that stop answering."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dask.config
import pytest

from pycluster import HeadNode, JobRejectedError, JobStatus
from tests.helpers import api_client, running_head, wait_for, wait_for_job


def tick_forever(path: str) -> None:
    """A piece that never returns: appends a byte to ``path`` every 0.1 s."""
    while True:
        with open(path, "a") as f:
            f.write(".")
        time.sleep(0.1)


def pid_then_sleep(i: int, folder: str, seconds: float) -> int:
    """Writes this worker's pid to ``folder/<i>``, then sleeps: which process runs piece i."""
    Path(folder, str(i)).write_text(str(os.getpid()))
    time.sleep(seconds)
    return i


def size_stays(path: Path, seconds: float = 1.0) -> bool:
    before = path.stat().st_size
    time.sleep(seconds)
    return path.stat().st_size == before


@pytest.fixture(scope="module")
def live_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("liveness", tmp_path_factory.mktemp("liveness-state")) as node:
        yield node


def test_heads_drop_silent_workers_after_20_seconds(live_head: HeadNode) -> None:
    ttl = live_head.cluster_manager.client.run_on_scheduler(_scheduler_ttl)
    assert ttl == 20  # Dask's default of 5 minutes kept jobs waiting on a stopped worker


def _scheduler_ttl(dask_scheduler: object = None) -> float:
    return float(dask_scheduler.worker_ttl)  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, "5"])
def test_timeout_must_be_positive_and_finite(live_head: HeadNode, bad: object) -> None:
    with pytest.raises(JobRejectedError, match="timeout_s"):
        live_head.jobs.submit(abs, -1, timeout_s=bad)  # type: ignore[arg-type]


def test_rest_refuses_a_bad_timeout_naming_the_field(live_head: HeadNode) -> None:
    with api_client(live_head) as api:
        for bad in (-1, 0, "soon"):
            answer = api.post("/api/processing/jobs/submit", json={"operation": "echo", "timeout_s": bad})
            assert answer.status_code == 422, answer.text
            assert "timeout_s" in answer.text
        ok = api.post("/api/processing/jobs/submit", json={"operation": "echo", "timeout_s": 30})
        assert ok.status_code == 200, ok.text
        final = wait_for_job(api, ok.json()["job_id"], 60)
        assert final["status"] == "completed" and final["timeout_s"] == 30


@pytest.mark.slow
def test_a_piece_past_its_timeout_fails_the_job_and_stops_running(
    live_head: HeadNode, tmp_path: Path
) -> None:
    ticks = tmp_path / "ticks"
    handle = live_head.jobs.submit(tick_forever, str(ticks), timeout_s=1.5, retries=0)
    job = live_head.jobs.wait(handle.job_id, 60)
    assert job.status == JobStatus.FAILED
    error = job.error or ""
    assert "timeout_s=1.5" in error and "on worker tls://127.0.0.1:" in error, error
    assert ticks.exists()
    wait_for(lambda: size_stays(ticks), 15, what="the timed-out piece to stop writing")
    # the worker that held it was started again: the cluster still runs jobs
    assert live_head.jobs.submit(abs, -3).result(timeout=60) == 3


@pytest.mark.slow
def test_cancel_stops_the_running_code(live_head: HeadNode, tmp_path: Path) -> None:
    ticks = tmp_path / "ticks"
    handle = live_head.jobs.submit(tick_forever, str(ticks))
    wait_for(lambda: ticks.exists() and ticks.stat().st_size > 3, 60, what="the piece to run")
    handle.cancel()
    assert handle.status() == JobStatus.CANCELLED
    wait_for(lambda: size_stays(ticks), 15, what="the cancelled piece to stop writing")
    assert live_head.jobs.submit(abs, -4).result(timeout=60) == 4


@pytest.mark.slow
def test_a_stopped_worker_neither_holds_its_job_nor_the_queue(tmp_path: Path) -> None:
    """SIGSTOP one of two workers while a job's piece runs on it: its piece runs again on the
    other worker once the scheduler drops the silent one, and jobs submitted meanwhile run."""
    pids = tmp_path / "pids"
    pids.mkdir()
    with dask.config.set({"distributed.scheduler.worker-ttl": "4s"}):  # the test's patience, not 20 s
        head = running_head("stopped-worker", tmp_path / "state")
        node = head.__enter__()
    stopped: int | None = None
    try:
        job = node.jobs.map(pid_then_sleep, range(4), folder=str(pids), seconds=1.0, max_cores=2, retries=1)
        first = wait_for(lambda: sorted(pids.iterdir()), 60, what="a piece to start")[0]
        stopped = int(first.read_text())
        os.kill(stopped, signal.SIGSTOP)
        started = time.monotonic()
        # the queue keeps dispatching: a new job runs on the worker that still answers
        assert node.jobs.submit(abs, -5).result(timeout=30) == 5
        assert job.result(timeout=60) == [0, 1, 2, 3]
        assert time.monotonic() - started < 30  # 2 x worker-ttl and the pieces' own time
        workers = node.cluster_manager.client.scheduler_info(n_workers=-1)["workers"]
        assert stopped not in {w.get("pid") for w in workers.values()}
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        head.__exit__(None, None, None)
