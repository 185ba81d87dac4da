"""Jobs that wait for other jobs (``depends_on``) or for a time (``run_at``), on a real head over
REST and Python; an older database gains the new columns; recovered jobs start at once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pycluster import HeadNode
from pycluster.errors import JobRejectedError
from pycluster.jobs import JobQueue
from pycluster.jobs.model import JobStatus
from pycluster.jobs.store import JobStore
from tests.helpers import api_client, running_head, wait_for, wait_for_job

JOBS = "/api/processing/jobs"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("deps", tmp_path_factory.mktemp("state"), workers=2) as head:
        yield head


@pytest.fixture
def api(node: HeadNode) -> Iterator[Any]:
    with api_client(node) as client:
        yield client


def submit(api: Any, **body: Any) -> str:
    response = api.post(f"{JOBS}/submit", json=body)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def status(api: Any, job_id: str) -> dict[str, Any]:
    response = api.get(f"{JOBS}/{job_id}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_dependent_waits_for_its_parent_and_says_so(api: Any) -> None:
    parent = submit(api, operation="sleep", parameters={"seconds": 1.0, "pieces": 1})
    child = submit(api, operation="echo", parameters={"value": 7}, depends_on=[parent])
    seen = wait_for(
        lambda: (
            (reason := status(api, child)["waiting_reason"])
            and not reason.startswith("just submitted")
            and reason
        ),
        what="the child's waiting reason (after the dispatcher's first look at it)",
    )
    assert seen.startswith(f"waiting for job {parent} ("), seen
    assert status(api, child)["depends_on"] == [parent]
    done = wait_for_job(api, child, timeout=60)
    assert done["status"] == "completed" and done["result"] == {"echo": 7}
    first = status(api, parent)
    assert first["status"] == "completed"
    assert done["started_at"] >= first["finished_at"], (done, first)


def test_a_failed_parent_cancels_its_dependents_down_the_chain(api: Any) -> None:
    parent = submit(api, operation="fail", parameters={"message": "broken input"}, retries=0)
    child = submit(api, operation="echo", depends_on=[parent])
    grandchild = submit(api, operation="echo", depends_on=[child])
    assert wait_for_job(api, parent, timeout=60)["status"] == "failed"
    child_done = wait_for_job(api, child, timeout=10)
    assert child_done["status"] == "cancelled"
    assert child_done["error"].startswith(f"parent job {parent} failed: "), child_done["error"]
    assert "broken input" in child_done["error"]
    grand = wait_for_job(api, grandchild, timeout=10)
    assert grand["status"] == "cancelled"
    assert grand["error"].startswith(f"parent job {child} cancelled: parent job {parent} failed")


def test_a_cancelled_parent_cancels_its_dependent(api: Any) -> None:
    parent = submit(api, operation="sleep", parameters={"seconds": 30, "pieces": 1})
    child = submit(api, operation="echo", depends_on=[parent])
    assert api.post(f"{JOBS}/{parent}/cancel").status_code == 200
    done = wait_for_job(api, child, timeout=10)
    assert done["status"] == "cancelled" and done["error"] == f"parent job {parent} cancelled"


def test_unknown_parents_and_cycles_are_refused(api: Any, node: HeadNode) -> None:
    response = api.post(f"{JOBS}/submit", json={"operation": "echo", "depends_on": ["job_nosuchjob"]})
    assert response.status_code == 422
    assert "depends_on" in response.text and "job_nosuchjob" in response.text
    queue = node.jobs
    with pytest.raises(JobRejectedError, match="depends_on: job job_self cannot depend on itself"):
        queue.submit_job("echo", depends_on=["job_self"], job_id="job_self")
    # a job whose given id is already an ancestor of its parents would close a cycle
    first = queue.submit_job("echo", run_at=time.time() + 3600)
    second = queue.submit_job("echo", depends_on=[first.id], run_at=time.time() + 3600)
    with pytest.raises(JobRejectedError, match="ancestor of its own parents"):
        queue.submit_job("echo", depends_on=[second.id], job_id=first.id)
    for job in (second, first):
        queue.cancel(job.id)


def test_python_jobs_depend_on_handles(node: HeadNode) -> None:
    first = node.jobs.submit(sum, [1, 2, 3])
    second = node.jobs.submit(pow, 2, 10, depends_on=[first])
    assert second.result(timeout=60) == 1024
    assert node.jobs.get(second.job_id).depends_on == [first.job_id]
    assert node.jobs.get(second.job_id).started_at >= node.jobs.get(first.job_id).finished_at


def test_run_at_holds_a_job_until_its_time(api: Any) -> None:
    when = time.time() + 2.0
    iso = datetime.fromtimestamp(when, tz=timezone.utc).isoformat()
    job_id = submit(api, operation="echo", parameters={"value": 1}, run_at=iso)
    reason = wait_for(lambda: status(api, job_id)["waiting_reason"])
    assert reason.startswith("scheduled to run at "), reason
    done = wait_for_job(api, job_id, timeout=30)
    started = datetime.fromisoformat(done["started_at"]).timestamp()
    # never early; late by at most a dispatcher tick and the REST round trips
    assert when - 0.01 <= started <= when + 1.5, (when, started)


def test_run_at_in_the_past_and_nonsense_are_refused(api: Any) -> None:
    for value in (time.time() - 3600, "yesterday", "2001-01-01T00:00:00Z"):
        response = api.post(f"{JOBS}/submit", json={"operation": "echo", "run_at": value})
        assert response.status_code == 422, response.text
        assert "run_at" in response.text


def test_an_older_database_gains_the_new_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "pycluster.sqlite3")
    db.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, kind, operation, parameters, priority, status, "
        "client_id, created_at, seq, result)"
    )
    db.execute(
        "INSERT INTO jobs VALUES ('job_old', 'operation', 'echo', '{}', 1, 'completed', 'me', 1.0, 1, 'null')"
    )
    db.commit()
    db.close()
    store = JobStore(tmp_path / "pycluster.sqlite3")
    try:
        old = store.get("job_old")
        assert old is not None and old.depends_on == [] and old.run_at is None
        assert store.statuses(["job_old", "job_none"]) == {"job_old": (JobStatus.COMPLETED, None)}
    finally:
        store.close()


@pytest.mark.slow
def test_a_recovered_job_starts_as_soon_as_the_head_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # started_at is when the dispatcher started it, not when a worker did (no look-ahead: a
    # fresh worker's first task takes a few tenths of a second more on a loaded machine)
    monkeypatch.setenv("PYCLUSTER_JOB_DISPATCH_LOOKAHEAD", "0")
    # a job accepted while no cluster ran (the standalone API's queue), then a head on that state
    queue = JobQueue(None, tmp_path).start()
    job = queue.submit_job("echo", {"value": "recovered"})
    queue.stop()
    with running_head("recover", tmp_path, workers=1) as head:
        ready = time.time()
        done = head.jobs.wait(job.id, timeout=30)
        assert done.status == JobStatus.COMPLETED
        assert done.started_at is not None
        # dispatched from the all-services-started hook: measured 0.002 s; before it, the first look
        # came one poll (1 s) after the queue started: 0.75 s after the head was ready
        assert done.started_at - ready < 0.4, done.started_at - ready
