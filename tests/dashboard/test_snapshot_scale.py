"""The dashboard's job section with many jobs in the database (a tiny benchmarks/dashboard_scale.py):
it stays fast, counts again after a change, and the stream's delta of it is small."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.dashboard_scale import fill_jobs

from pycluster.jobs import JobQueue
from pycluster.web.delta import apply, diff
from pycluster.web.snapshot import jobs_view

JOBS = 20_000


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobQueue]:
    state = Path(tmp_path_factory.mktemp("many-jobs"))
    fill_jobs(state, JOBS)
    queue = JobQueue(None, state)  # no cluster, no dispatcher thread: only the store is read
    yield queue
    queue.store.close()


def test_newest_jobs_and_totals_stay_fast(queue: JobQueue) -> None:
    jobs_view(queue)  # the first look counts
    best = min(_timed(lambda: jobs_view(queue)) for _ in range(5))
    view = jobs_view(queue)
    assert view.total == JOBS and sum(view.totals.values()) == JOBS
    assert [row["job_id"] for row in view.jobs][:1] == [queue.store.list(None, 1, 0)[1][0].id]
    # ordering 20,000 rows without an index on seq took ~100 ms here; with it, a few ms
    assert best < 0.05, f"jobs_view took {best * 1000:.0f} ms with {JOBS} jobs"


def test_totals_follow_a_new_job(queue: JobQueue) -> None:
    before = jobs_view(queue)
    job = queue.submit_job("echo", {"value": 1})
    after = jobs_view(queue)
    assert after.total == before.total + 1
    assert sum(after.totals.values()) == sum(before.totals.values()) + 1
    assert after.jobs[0]["job_id"] == job.id
    # the stream sends the change, not the 100 rows again
    old, new = before.to_dict(), after.to_dict()
    patch = diff(old, new)
    assert apply(old, patch) == new
    assert len(json.dumps(patch)) < len(json.dumps(new))


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started
