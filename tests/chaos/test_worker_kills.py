"""kill -9 a local worker while a map and a job run on it: every result arrives, once, in order.

Each test prints its figures (executions, pieces run twice, seconds to recover); ``-s`` shows them.
A worker stopped with SIGSTOP is covered by
``tests/jobs/test_liveness.py::test_a_stopped_worker_neither_holds_its_job_nor_the_queue``, a killed
idle worker by ``tests/cluster/test_head.py::test_killed_worker_is_replaced_and_scale_up_down`` and
a dataset job that loses a worker by ``tests/data/test_data_api.py::test_killed_worker_mid_job_...``.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from pycluster import JobStatus
from tests.helpers import running_head, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

ITEMS = 16


def logged_square(x: int, log: str, seconds: float) -> int:
    """Appends ``x pid`` to ``log`` as it starts (one line per execution), then sleeps: x * x."""
    with open(log, "a") as f:
        f.write(f"{x} {os.getpid()}\n")
    time.sleep(seconds)
    return x * x


def _executions(log: Path) -> list[tuple[int, int]]:
    if not log.exists():
        return []
    return [(int(x), int(pid)) for x, pid in (line.split() for line in log.read_text().splitlines())]


def _kill_a_busy_worker(log: Path, started_before: int) -> tuple[int, float]:
    """Once ``started_before`` items have started, kill -9 the worker that started the last one."""
    runs = wait_for(lambda: len(r := _executions(log)) >= started_before and r, 60, what="items to start")
    victim = runs[-1][1]
    os.kill(victim, signal.SIGKILL)
    return victim, time.monotonic()


def _figures(log: Path, victim: int) -> tuple[Counter[int], int, int]:
    runs = _executions(log)
    counts = Counter(x for x, _ in runs)
    on_victim = sum(1 for _, pid in runs if pid == victim)
    return counts, sum(n - 1 for n in counts.values()), on_victim


def test_kill_dash_nine_a_worker_mid_map(tmp_path: Path) -> None:
    log = tmp_path / "executions"
    with running_head("kill-mid-map", tmp_path / "state") as node:
        manager = node.cluster_manager
        futures = manager.map_tasks(
            logged_square, range(ITEMS), [str(log)] * ITEMS, [0.4] * ITEMS, batch_size=1
        )
        victim, killed_at = _kill_a_busy_worker(log, 4)
        results = manager.gather(futures, timeout=60)
        recovered = time.monotonic() - killed_at
        wait_for(lambda: node.local_workers.restarts >= 1, 60, what="the killed worker to be started again")
        replaced = time.monotonic() - killed_at
        counts, reruns, on_victim = _figures(log, victim)
        print(
            f"map of {ITEMS} items, worker {victim} killed: all results {recovered:.1f}s after the kill, "
            f"worker replaced after {replaced:.1f}s; executions {sum(counts.values())}, items run twice "
            f"{reruns}, items lost {ITEMS - len(counts)}; {on_victim} started on the killed worker"
        )
        assert results == [x * x for x in range(ITEMS)]
        assert set(counts) == set(range(ITEMS))
        # only what the killed worker held is run again: its running item (one thread) at most,
        # and finished results that lived only in its memory
        assert reruns <= on_victim
        assert manager.submit_task(abs, -7).result(timeout=30) == 7


def test_kill_dash_nine_a_worker_mid_job(tmp_path: Path) -> None:
    log = tmp_path / "executions"
    with running_head("kill-mid-job", tmp_path / "state") as node:
        handle = node.jobs.map(logged_square, range(ITEMS), log=str(log), seconds=0.4, max_cores=2, retries=2)
        victim, killed_at = _kill_a_busy_worker(log, 4)
        job = node.jobs.wait(handle.job_id, 90)
        recovered = time.monotonic() - killed_at
        counts, reruns, on_victim = _figures(log, victim)
        result = node.jobs.results.load(job)
        print(
            f"job of {ITEMS} pieces, worker {victim} killed: job {job.status.value} {recovered:.1f}s after "
            f"the kill; executions {sum(counts.values())}, pieces run twice {reruns}, pieces lost "
            f"{ITEMS - len(counts)}; attempts {job.attempts}; {on_victim} started on the killed worker"
        )
        assert job.status == JobStatus.COMPLETED, job.error
        assert result == [x * x for x in range(ITEMS)]  # no piece lost, none counted twice
        assert job.pieces_done == ITEMS
        assert set(counts) == set(range(ITEMS))
        # a finished piece is kept by the queue at once: only the one running on the killed
        # worker (one thread) is run again
        assert reruns <= 1
