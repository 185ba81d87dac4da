"""Retries wait longer each time, finished jobs expire with their result files, and jobs can be
deleted and submitted again, on a real head over REST and Python."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pycluster import HeadNode
from pycluster.errors import JobFailedError, JobNotFoundError, JobRejectedError
from tests.helpers import api_client, running_head, wait_for, wait_for_job

JOBS = "/api/processing/jobs"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("retry-expiry", tmp_path_factory.mktemp("state"), workers=2) as head:
        yield head


@pytest.fixture
def api(node: HeadNode) -> Iterator[Any]:
    with api_client(node) as client:
        yield client


def stamp_and_fail(path: str) -> None:
    with open(path, "a") as f:
        f.write(f"{time.time()}\n")
    raise RuntimeError("still broken")


def test_retries_wait_longer_each_attempt(node: HeadNode, tmp_path: Path) -> None:
    stamps = tmp_path / "attempts"
    handle = node.jobs.submit(stamp_and_fail, str(stamps), retries=4, retry_backoff_s=0.2)
    with pytest.raises(JobFailedError, match="still broken"):
        handle.result(timeout=60)
    times = [float(line) for line in stamps.read_text().split()]
    assert len(times) == 5, times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # equal jitter: retry n waits between half and all of 0.2 * 2**(n-1) seconds
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.1 * 2 ** (n - 1) * 0.95, gaps
    # the first gap also holds the first attempt's start-up on the worker (measured: up to 0.5 s)
    assert gaps[3] > gaps[0] and gaps[3] >= 0.8, gaps
    assert node.jobs.get(handle.job_id).attempts == 5


def test_no_backoff_retries_at_once(node: HeadNode, tmp_path: Path) -> None:
    stamps = tmp_path / "attempts"
    handle = node.jobs.submit(stamp_and_fail, str(stamps), retries=2, retry_backoff_s=0)
    with pytest.raises(JobFailedError):
        handle.result(timeout=60)
    times = [float(line) for line in stamps.read_text().split()]
    assert len(times) == 3 and times[-1] - times[0] < 2.0, times


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"retry_backoff_s": -1}, "retry_backoff_s"),
        ({"retry_backoff_s": 10_000}, "retry_backoff_s"),
        ({"result_ttl_s": 0}, "result_ttl_s"),
        ({"result_ttl_s": -5}, "result_ttl_s"),
    ],
)
def test_bad_retry_and_ttl_get_422_naming_the_field(api: Any, body: dict[str, Any], field: str) -> None:
    answer = api.post(f"{JOBS}/submit", json={"operation": "echo", **body})
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_bad_values_from_python_name_the_field(node: HeadNode) -> None:
    with pytest.raises(JobRejectedError, match="result_ttl_s"):
        node.jobs.submit_job("echo", result_ttl_s=-1)
    with pytest.raises(JobRejectedError, match="retry_backoff_s"):
        node.jobs.submit_job("echo", retry_backoff_s=float("nan"))


def test_expired_jobs_are_swept_with_their_result_files(node: HeadNode, api: Any) -> None:
    # a tuple is not JSON (a small int or list would be kept in the row): its pickle is a file
    handle = node.jobs.submit(tuple, [1, 2, 3], result_ttl_s=1.5)
    assert handle.result(timeout=60) == (1, 2, 3)
    job = node.jobs.get(handle.job_id)
    assert job.result_path is not None and Path(job.result_path).exists()
    detail = api.get(f"{JOBS}/{job.id}/status").json()
    assert detail["result_ttl_s"] == 1.5 and detail["expires_at"] is not None
    keep = node.jobs.submit(sum, [1, 1])  # no TTL: kept
    assert keep.result(timeout=60) == 2
    finished = job.finished_at or 0
    wait_for(lambda: api.get(f"{JOBS}/{job.id}/status").status_code == 404, 15, what="the job to expire")
    assert time.time() - finished >= 1.5
    assert not Path(job.result_path).exists()
    with pytest.raises(JobNotFoundError):
        node.jobs.get(job.id)
    assert node.jobs.get(keep.job_id).status.value == "completed"


def test_delete_refuses_unfinished_jobs_and_removes_finished_ones(node: HeadNode, api: Any) -> None:
    assert api.delete(f"{JOBS}/job_nope").status_code == 404
    running = api.post(f"{JOBS}/submit", json={"operation": "sleep", "parameters": {"seconds": 30}}).json()
    job_id = running["job_id"]
    wait_for(lambda: api.get(f"{JOBS}/{job_id}/status").json()["status"] == "running", 30)
    refused = api.delete(f"{JOBS}/{job_id}")
    assert refused.status_code == 409 and "cancel it first" in refused.json()["detail"], refused.text
    assert api.post(f"{JOBS}/{job_id}/cancel").status_code == 200
    deleted = api.delete(f"{JOBS}/{job_id}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    assert api.get(f"{JOBS}/{job_id}/status").status_code == 404
    assert api.delete(f"{JOBS}/{job_id}").status_code == 404
    listed = api.get(f"{JOBS}/list", params={"limit": 1000}).json()["jobs"]
    assert job_id not in {j["job_id"] for j in listed}

    handle = node.jobs.submit(tuple, [2, 2])  # not JSON: its pickle is a result file
    assert handle.result(timeout=60) == (2, 2)
    path = Path(node.jobs.get(handle.job_id).result_path or "")
    assert path.exists()
    assert api.delete(f"{JOBS}/{handle.job_id}").status_code == 200
    assert not path.exists()


def test_retry_submits_a_failed_job_again_with_the_same_spec(api: Any) -> None:
    spec = {"operation": "fail", "parameters": {"message": "on purpose"}, "retries": 0, "priority": "HIGH"}
    failed = api.post(f"{JOBS}/submit", json={**spec, "timeout_s": 30, "result_ttl_s": 600}).json()["job_id"]
    assert wait_for_job(api, failed)["status"] == "failed"
    again = api.post(f"{JOBS}/{failed}/retry")
    assert again.status_code == 200, again.text
    new_id = again.json()["job_id"]
    assert new_id != failed and again.json()["retry_of"] == failed
    detail = wait_for_job(api, new_id)
    assert detail["status"] == "failed" and "on purpose" in detail["error"]
    assert detail["retry_of"] == failed and detail["priority"] == "HIGH"
    assert detail["parameters"] == {"message": "on purpose"}
    assert (detail["timeout_s"], detail["result_ttl_s"], detail["max_retries"]) == (30, 600, 0)

    done = api.post(f"{JOBS}/submit", json={"operation": "echo"}).json()["job_id"]
    assert wait_for_job(api, done)["status"] == "completed"
    refused = api.post(f"{JOBS}/{done}/retry")
    assert refused.status_code == 409 and "only failed or cancelled" in refused.json()["detail"]
    assert api.post(f"{JOBS}/job_nope/retry").status_code == 404
