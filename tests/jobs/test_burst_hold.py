"""A burst of REST submissions is answered first: the jobs submitted in it wait until it ends,
or ``burst_hold`` seconds at most while it goes on, and say why; CRITICAL jobs never wait.

A real head over HTTP; the burst's threshold is lowered (4 submissions within 2 s instead of 50
within 0.25 s) so that a test client submitting every 0.1 s makes a burst on a loaded machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from pycluster import HeadNode
from pycluster.jobs import queue as queue_module
from tests.helpers import api_client, running_head, wait_for, wait_for_job

JOBS = "/api/processing/jobs"
HOLD = 2.0  # seconds


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    patch = pytest.MonkeyPatch()
    patch.setattr(queue_module, "BURST_SUBMISSIONS", 4)
    patch.setattr(queue_module, "BURST_WINDOW", 2.0)
    patch.setenv("PYCLUSTER_JOB_BURST_HOLD", str(HOLD))
    try:
        with running_head("burst", tmp_path_factory.mktemp("state"), workers=2) as head:
            assert head.jobs.settings.burst_hold == HOLD
            yield head
    finally:
        patch.undo()


def submit(api: Any, **body: Any) -> tuple[str, float]:
    """The job's id, and when the submission was sent (wall clock, as the job's times)."""
    sent = time.time()
    response = api.post(f"{JOBS}/submit", json={"operation": "echo", **body})
    assert response.status_code == 200, response.text
    return response.json()["job_id"], sent


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_bursts_jobs_wait_for_it_at_most_the_hold_and_critical_ones_never(node: HeadNode) -> None:
    stop = threading.Event()
    background: list[str] = []

    def keep_submitting() -> None:  # the burst: one submission every 0.1 s
        with api_client(node) as api:
            while not stop.is_set():
                background.append(submit(api, parameters={"value": 0})[0])
                time.sleep(0.1)

    burst = threading.Thread(target=keep_submitting, daemon=True)
    burst.start()
    try:
        with api_client(node) as api:
            wait_for(lambda: len(background) >= 8, 30, what="the burst to be under way")
            normal, normal_sent = submit(api, parameters={"value": 1})
            critical, _ = submit(api, parameters={"value": 2}, priority="CRITICAL")
            # the NORMAL job waits, and says why, while the burst goes on
            reason = wait_for(
                lambda: (
                    (r := api.get(f"{JOBS}/{normal}/status").json()["waiting_reason"])
                    and r.startswith("submitted in a burst")
                    and r
                ),
                10,
                what="the burst's waiting reason",
            )
            assert f"{HOLD:g}s after submission" in reason
            # the CRITICAL one does not wait for the burst
            done = wait_for_job(api, critical, timeout=30)
            assert done["status"] == "completed", done
            assert not stop.is_set()
            critical_finished = time.time()
            # the NORMAL one starts HOLD seconds after it came, though the burst goes on
            done = wait_for_job(api, normal, timeout=30)
            started = epoch(done["started_at"])
            submitted_by_then = len(background)
            wait_for(lambda: len(background) > submitted_by_then + 2, 10, what="the burst to go on")
        assert done["status"] == "completed", done
        created = epoch(done["created_at"])
        assert started - created >= HOLD - 0.05, (created, started)  # held for the hold...
        assert started - normal_sent <= HOLD + 2.0, (normal_sent, started)  # ...and no longer
        assert critical_finished < started, "the CRITICAL job ran while the NORMAL one was held"
    finally:
        stop.set()
        burst.join(30)
    with api_client(node) as api:  # once it is over, the burst's jobs run
        for job_id in background[-3:]:
            assert wait_for_job(api, job_id, timeout=60)["status"] == "completed"


def test_submissions_at_a_walking_pace_start_at_once(node: HeadNode) -> None:
    """Below the burst rate nothing is held: each job starts as it comes."""
    with api_client(node) as api:
        time.sleep(2.5)  # the last test's burst is over
        for value in range(3):
            job_id, sent = submit(api, parameters={"value": value})
            done = wait_for_job(api, job_id, timeout=30)
            assert done["status"] == "completed"
            assert epoch(done["started_at"]) - sent < HOLD - 0.5, done
            time.sleep(0.8)  # 1 submission per 0.8 s: never 4 within 2 s
