"""head.shutdown() while a job runs: the head stops promptly and leaves nothing behind,
and the job is not lost: the next head on the same state directory runs it to the end
(DESIGN.md: "running ones resume from their last checkpoint")."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest

from pycluster import HeadNode, JobStatus
from tests.helpers import all_gone, wait_for

pytestmark = pytest.mark.slow


def slow_then_quick(log: str) -> str:
    """Sleeps in small pieces, noting each in ``log``: 30 s the first time (the head is stopped
    in the middle of it), 1 s when it runs again after the restart."""
    import time

    with open(log, "a+") as f:
        f.seek(0)
        again = "start" in f.read().split()
        f.write("start\n")
    for i in range(2 if again else 60):
        time.sleep(0.5)
        with open(log, "a") as f:
            f.write(f"{i}\n")
    return "finished after the restart" if again else "finished in the first life"


def new_head(state: Path) -> HeadNode:
    node = HeadNode(
        "stop-running", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=state
    )
    info = node.start(n_local_workers=1, threads_per_worker=1)
    assert info["status"] == "success", info
    return node


def port_is_free(port: int) -> bool:
    """Whether a new scheduler could listen on ``port``. SO_REUSEADDR as Dask's listener sets it:
    the closed connections' TIME_WAIT entries do not count, a socket still listening does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


def test_shutdown_while_a_job_runs_then_the_next_head_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the restarted queue looks at its recovered jobs on its first tick, one interval
    # (5 s by default) after it starts: a short one keeps the test short
    monkeypatch.setenv("PYCLUSTER_JOB_CHECK_INTERVAL", "0.2s")
    state, log = tmp_path / "state", tmp_path / "steps.log"
    me = psutil.Process(os.getpid())
    children_before = {p.pid for p in me.children(recursive=True)}

    head = new_head(state)
    try:
        port = urlparse(head.scheduler_address).port
        assert port
        job = head.jobs.submit(slow_then_quick, str(log))
        wait_for(lambda: job.status() == JobStatus.RUNNING, 30, what="the job to run")
        # really in the middle of its work, not merely admitted
        wait_for(lambda: log.exists() and "0" in log.read_text().split(), 30, what="the first step")
        workers = [p for p in me.children(recursive=True) if p.pid not in children_before]
        assert workers, "the head started no local worker processes"
    finally:
        began = time.monotonic()
        head.shutdown()
        took = time.monotonic() - began

    # a running task is not waited for: its worker process ends at once and the job reruns later
    assert took < 5, f"shutdown took {took:.1f}s with a job running"
    assert port_is_free(port), f"the scheduler's port {port} is still taken after shutdown"
    # give the OS a moment to reap the exited workers; nothing may stay behind for longer
    wait_for(lambda: all_gone(workers), 5, what="the local workers to exit")
    left = [p for p in me.children(recursive=True) if p.pid not in children_before]
    assert all_gone(left), f"processes left behind by shutdown: {left}"
    interrupted_at = log.read_text()
    assert "59" not in interrupted_at.split(), "the job ran to its end: it was not stopped in the middle"

    head = new_head(state)
    try:
        found = head.jobs.get(job.job_id)
        # back in the queue (or already running again), never stuck as 'running' of a dead cluster
        assert found.status in {JobStatus.QUEUED, JobStatus.RUNNING}, found
        done = head.jobs.wait(job.job_id, 60)
        assert done.status == JobStatus.COMPLETED, done.error
        assert head.jobs.load_result(done) == "finished after the restart"
    finally:
        head.shutdown()
    # a single-piece job has no checkpoint inside it: it ran again from its start, once
    assert log.read_text().startswith(interrupted_at)
    assert log.read_text().split().count("start") == 2
