"""The standalone API's store without a cluster: the queue, the registry and the state-dir lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycluster import Settings
from pycluster.cluster.state_lock import StateDirLock
from pycluster.errors import ClusterError, JobStateError
from pycluster.jobs.model import JobStatus
from pycluster.jobs.queue import JobQueue, QueueSettings
from pycluster.web.controller import StandaloneController
from tests.helpers import wait_for


def test_a_queue_without_a_cluster_accepts_lists_and_cancels_jobs(tmp_path: Path) -> None:
    queue = JobQueue(None, tmp_path, QueueSettings(check_interval=0.05)).start()
    try:
        kept = queue.submit_job("echo", {"value": 1})
        dropped = queue.submit_job("echo", {"value": 2})
        wait_for(lambda: queue.get(kept.id).status == JobStatus.QUEUED, 5, what="the job to be queued")
        assert queue.list()[0] == 2
        assert queue.cancel(dropped.id).status == JobStatus.CANCELLED
        assert queue.status().resources.total_cores == 0
        queue.detach_client()  # nothing attached: nothing to do
        assert queue.get(kept.id).status == JobStatus.QUEUED  # no workers: it waits
    finally:
        queue.stop()
    again = JobQueue(None, tmp_path).start()  # the store keeps it for the next process
    try:
        assert again.get(kept.id).status == JobStatus.QUEUED
        with pytest.raises(JobStateError):
            again.cancel(dropped.id)
    finally:
        again.stop()


def test_a_lent_state_dir_lock_admits_one_borrower_and_refuses_everyone_else(tmp_path: Path) -> None:
    api, head, other = StateDirLock(tmp_path), StateDirLock(tmp_path), StateDirLock(tmp_path)
    api.acquire()
    try:
        with pytest.raises(ClusterError, match="another head node"):
            head.acquire()  # not lent: refused as before
        with api.lending():
            head.acquire()
            with pytest.raises(ClusterError, match="another head node"):
                other.acquire()  # a loan is for one acquisition
        head.release()
        assert api.held and not head.held
        with pytest.raises(ClusterError, match="another head node"):
            other.acquire()  # the lender still holds it
    finally:
        api.release()
    other.acquire()
    other.release()


def test_a_second_standalone_api_on_one_state_dir_is_refused(tmp_path: Path) -> None:
    settings = Settings.load(False, env={}, state_dir=str(tmp_path))
    first = StandaloneController(settings).open()
    try:
        with pytest.raises(ClusterError, match="another head node"):
            StandaloneController(settings).open()
        job = first.jobs.submit_job("echo", {"value": 3})
        assert first.jobs.get(job.id).id == job.id and first.datasets.list() == []
        assert first.connection_info()["cluster_name"] == settings.cluster.name
    finally:
        first.close()
    second = StandaloneController(settings, url="http://127.0.0.1:1").open()
    try:
        assert second.dashboard_url == "http://127.0.0.1:1"
        assert second.jobs.list()[0] == 1
    finally:
        second.close()
