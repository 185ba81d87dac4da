"""Cron schedules over REST on a real head, and a head killed (kill -9) in the middle of firing a
slot: the next head fires that slot exactly once, and no slot ever fires twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pycluster import HeadNode
from tests.helpers import all_gone, api_client, descendants, running_head, wait_for, wait_for_job

SCHEDULES = "/api/processing/schedules"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("cron", tmp_path_factory.mktemp("state"), workers=1) as head:
        yield head


@pytest.fixture
def api(node: HeadNode) -> Iterator[Any]:
    with api_client(node) as client:
        yield client


def fired_jobs(node: HeadNode, schedule_id: str) -> list[Any]:
    _, found = node.jobs.list(limit=1000)
    return [job for job in found if job.schedule_id == schedule_id]


def test_a_schedule_fires_every_slot_until_deleted(api: Any, node: HeadNode) -> None:
    body = {"cron": "* * * * * *", "operation": "echo", "parameters": {"value": "tick"}, "priority": "high"}
    response = api.post(SCHEDULES, json=body)
    assert response.status_code == 200, response.text
    schedule = response.json()
    sid = schedule["schedule_id"]
    assert schedule["cron"] == "* * * * * *" and schedule["job"]["priority"] == "HIGH"
    jobs = wait_for(lambda: len(fired_jobs(node, sid)) >= 2 and fired_jobs(node, sid), 15)
    slots = [job.run_at for job in jobs]
    assert len(set(slots)) == len(slots) and all(slot == int(slot) for slot in slots), slots
    done = wait_for_job(api, jobs[0].id, timeout=30)
    assert done["status"] == "completed" and done["result"] == {"echo": "tick"}
    assert done["schedule_id"] == sid and done["priority"] == "HIGH"
    listed = api.get(SCHEDULES).json()
    assert sid in [s["schedule_id"] for s in listed["schedules"]]
    assert api.get(f"{SCHEDULES}/{sid}").json()["fired"] >= 2
    assert api.delete(f"{SCHEDULES}/{sid}").status_code == 200
    after = len(fired_jobs(node, sid))
    time.sleep(1.5)
    assert len(fired_jobs(node, sid)) == after, "a deleted schedule fired again"
    assert api.get(f"{SCHEDULES}/{sid}").status_code == 404
    assert api.delete(f"{SCHEDULES}/{sid}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "not a cron", "operation": "echo"}, "cron"),
        ({"cron": "61 * * * *", "operation": "echo"}, "cron"),
        ({"cron": "*/5 * * * *", "operation": "sleep", "parameters": {"seconds": -1}}, "parameters.seconds"),
        ({"cron": "*/5 * * * *", "operation": "echo", "timeout_s": 0}, "timeout_s"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(api: Any, body: dict[str, Any], field: str) -> None:
    response = api.post(SCHEDULES, json=body)
    assert response.status_code == 422, response.text
    assert field in response.text


FIRST_LIFE = """
import logging, sys
from pycluster import HeadNode
from pycluster.jobs.schedules import JobTemplate

logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
head = HeadNode(
    "cron-crash", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=sys.argv[1]
)
head.start(n_local_workers=1, threads_per_worker=1)
schedule = head.jobs.add_schedule("* * * * * *", JobTemplate("echo", {"value": "slot"}))
print("SCHEDULE", schedule.id, flush=True)
import time
time.sleep(120)
"""


@pytest.mark.slow
def test_kill_dash_nine_in_the_middle_of_firing_never_fires_a_slot_twice(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (tmp_path / "first.py").write_text(textwrap.dedent(FIRST_LIFE))
    # the head waits 30 s between writing a slot's job and moving its schedule on (one transaction)
    env = {**os.environ, "PYCLUSTER_TEST_FIRE_PAUSE_S": "30"}
    first = subprocess.Popen(
        [sys.executable, str(tmp_path / "first.py"), str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert first.stdout is not None
    try:
        lines = iter(first.stdout.readline, "")
        sid = next(line.split()[1] for line in lines if line.startswith("SCHEDULE"))
        pausing = next(line for line in lines if "in the middle of firing slot" in line)
        slot = float(pausing.rsplit(" ", 1)[1])
        family = [psutil.Process(first.pid), *descendants(first.pid)]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    first.stdout.close()
    wait_for(lambda: all_gone(family), 30, what="the killed head's workers to exit")

    db = sqlite3.connect(state / "pycluster.sqlite3")
    try:
        # the firing was rolled back whole: no job for the slot, the schedule still waits for it
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE schedule_id = ?", [sid]).fetchone() == (0,)
        assert db.execute("SELECT next_run_at FROM schedules WHERE id = ?", [sid]).fetchone() == (slot,)
    finally:
        db.close()

    with running_head("cron-crash", state, workers=1) as head:
        # the missed slot fires once, late; then the schedule goes on from now
        wait_for(lambda: len(fired_jobs(head, sid)) >= 3, 20, what="three slots to fire")
        head.jobs.delete_schedule(sid)
        jobs = fired_jobs(head, sid)
    slots = [job.run_at for job in jobs]
    assert len(slots) == len(set(slots)), f"a slot fired twice: {sorted(slots)}"
    assert slots.count(slot) == 1, (slot, sorted(slots))
