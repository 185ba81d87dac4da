"""kill -9 a `pycluster head` holding queued and running jobs submitted over REST, start it again
on the same state dir: every acknowledged job is there and completes. And a damaged database at
start stops the command with a clear message naming the file and a non-zero exit.

Figures are printed (``-s``). A head killed in the middle of a Python map (checkpointed items are
not run again) is covered by ``tests/jobs/test_crash_safety.py``; the Python API's answer to a
damaged database by ``tests/jobs/test_storage_faults.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from pycluster.jobs.handover import HANDED_OVER
from pycluster.jobs.queue import DATABASE_NAME
from tests.helpers import CliProcess, all_gone, cli, descendants, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

ENV = {
    "MAX_CONCURRENT_JOBS": "1",  # one job runs, the others wait in the queue at the kill
    "PYCLUSTER_JOB_CHECK_INTERVAL": "0.2s",  # recovered jobs are looked at soon after the restart
}
JOBS = 5
PIECES = 6


def _head(state: Path, env: dict[str, str] = ENV) -> tuple[CliProcess, str]:
    head = CliProcess(
        "head", "--local-workers", "2", "--scheduler-port", "0", "--dashboard-port", "0",
        "--dask-dashboard-port", "off", "--state-dir", str(state), env=env,
    )  # fmt: skip
    return head, head.wait_for_line(r"dashboard:\s+(http://\S+)", 90).group(1).rstrip("/")


def _status(api: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/processing/jobs/{job_id}/status")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _wait_until_finished(api: httpx.Client, jobs: list[str]) -> dict[str, dict[str, Any]]:
    """The final status of each of ``jobs``, waiting up to 90 s for each to end."""
    return {
        job: wait_for(
            lambda job=job: (s := _status(api, job))["status"] in {"completed", "failed", "cancelled"} and s,
            90,
            what=f"job {job} to finish",
        )
        for job in jobs
    }


def test_kill_dash_nine_the_head_with_queued_and_running_jobs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    head, url = _head(state)
    restarted: CliProcess | None = None
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            acknowledged = []
            for _ in range(JOBS):
                answer = api.post(
                    "/api/processing/jobs/submit",
                    json={"operation": "sleep", "parameters": {"seconds": 0.5, "pieces": PIECES}},
                )
                assert answer.status_code == 200, answer.text
                acknowledged.append(answer.json()["job_id"])
            wait_for(lambda: _status(api, acknowledged[0])["pieces_done"] >= 2, 60, what="a piece to finish")
            before = {job: _status(api, job) for job in acknowledged}
        running = [j for j, s in before.items() if s["status"] == "running"]
        queued = [j for j, s in before.items() if s["status"] in {"queued", "pending"}]
        assert running and queued, before
        checkpointed = {j: len(list((state / "checkpoints" / j).glob("*.pkl"))) for j in running}
        family = [psutil.Process(head.proc.pid), *descendants(head.proc.pid)]
        os.kill(head.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        head.proc.wait(10)
        wait_for(lambda: all_gone(family), 30, what="the killed head's local workers to exit")

        restarted, url = _head(state)
        serving = time.monotonic() - killed_at
        with httpx.Client(base_url=url, timeout=30) as api:
            after_restart = {job: _status(api, job) for job in acknowledged}  # every one is known
            finished = _wait_until_finished(api, acknowledged)
        recovered = time.monotonic() - killed_at
        lost = [j for j, s in finished.items() if s["status"] != "completed"]
        resumed_from = {j: after_restart[j]["pieces_done"] for j in running}
        print(
            f"head killed with {len(running)} running and {len(queued)} queued of {JOBS} acknowledged jobs; "
            f"serving again after {serving:.1f}s, all finished {recovered:.1f}s after the kill; "
            f"lost {len(lost)}; running job(s) had {checkpointed} pieces checkpointed and resumed at "
            f"{resumed_from} of {PIECES} (pieces in flight at the kill run again: at-least-once per "
            f"piece, exactly once per job result)"
        )
        assert not lost, {j: finished[j] for j in lost}
        for status in finished.values():
            assert status["pieces_done"] == PIECES, status
        for job in running:  # the checkpointed pieces were kept, not run again
            assert after_restart[job]["pieces_done"] >= checkpointed[job] or (
                after_restart[job]["status"] == "completed"
            ), (after_restart[job], checkpointed[job])
    finally:
        if restarted is not None:
            restarted.stop()
        head.stop()


def test_kill_dash_nine_the_head_with_jobs_handed_to_the_cluster(tmp_path: Path) -> None:
    """Look-ahead on (the default: 4 jobs may run at once, the 2 workers have 2 threads): small jobs
    waiting on the cluster for a core are ``queued`` in SQLite, so a restarted head runs them."""
    state = tmp_path / "state"
    head, url = _head(state, {"PYCLUSTER_JOB_CHECK_INTERVAL": "0.2s"})
    restarted: CliProcess | None = None
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            acknowledged = [
                api.post(
                    "/api/processing/jobs/submit",
                    json={"operation": "sleep", "parameters": {"seconds": 1.0, "pieces": 1}},
                ).json()["job_id"]
                for _ in range(8)
            ]

            def handed_and_running() -> dict[str, dict[str, Any]] | None:
                states = {job: _status(api, job) for job in acknowledged}
                running = [s for s in states.values() if s["status"] == "running"]
                handed = [s for s in states.values() if s["waiting_reason"] == HANDED_OVER]
                return states if running and handed else None

            before = wait_for(handed_and_running, 60, what="jobs running and jobs handed to the cluster")
        handed = [j for j, s in before.items() if s["waiting_reason"] == HANDED_OVER]
        assert all(before[j]["status"] == "queued" for j in handed), before
        os.kill(head.proc.pid, signal.SIGKILL)
        head.proc.wait(10)
        restarted, url = _head(state, {"PYCLUSTER_JOB_CHECK_INTERVAL": "0.2s"})
        with httpx.Client(base_url=url, timeout=30) as api:
            finished = _wait_until_finished(api, acknowledged)
        lost = [j for j, s in finished.items() if s["status"] != "completed"]
        print(
            f"head killed with {len(handed)} of {len(acknowledged)} handed to the cluster; lost {len(lost)}"
        )
        assert not lost, {j: finished[j] for j in lost}
    finally:
        if restarted is not None:
            restarted.stop()
        head.stop()


def test_a_damaged_database_stops_the_head_command_naming_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    database = state / DATABASE_NAME
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE filler (x TEXT)")
        db.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 400)
    size = database.stat().st_size
    with open(database, "r+b") as f:  # a torn write: half the pages gone, the header intact
        f.truncate(size // 2)
    started = time.monotonic()
    result = cli(
        "head", "--local-workers", "0", "--scheduler-port", "0", "--dashboard-port", "0",
        "--dask-dashboard-port", "off", "--state-dir", str(state),
    )  # fmt: skip
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    print(f"damaged database: exit {result.returncode} after {seconds:.1f}s: {result.stderr.strip()[:300]}")
    assert result.returncode != 0, output
    assert str(database) in output, output
    assert "Traceback" not in output, output
    assert database.stat().st_size == size // 2  # left as it was, for the user to inspect or restore
