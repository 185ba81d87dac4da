"""kill -9 the process holding the queue, start it again: nothing is lost, nothing finished is redone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.helpers import all_gone, descendants, wait_for

pytestmark = pytest.mark.slow

FIRST_LIFE = """
import sys, time
from pycluster import HeadNode

STATE, LOG = sys.argv[1], sys.argv[2]

def work(x):
    import time
    time.sleep(0.3)
    with open(LOG, "a") as f:
        f.write(f"{x}\\n")
    return x * 10

head = HeadNode("crash", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=STATE)
head.start(n_local_workers=1, threads_per_worker=1)
mapped = head.jobs.map(work, range(12))
waiting = head.jobs.submit_job("echo", {"value": "still here"}, priority="LOW")
print("JOBS", mapped.job_id, waiting.id, flush=True)
while head.jobs.get(mapped.job_id).pieces_done < 4:
    time.sleep(0.02)
print("KILL ME", flush=True)
time.sleep(120)
"""

SECOND_LIFE = """
import sys
from pycluster import HeadNode

STATE, MAPPED, WAITING = sys.argv[1], sys.argv[2], sys.argv[3]
head = HeadNode("crash", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=STATE)
head.start(n_local_workers=1, threads_per_worker=1)
mapped = head.jobs.wait(MAPPED, 60)
print("MAPPED", mapped.status.value, head.jobs.results.load(mapped), flush=True)
print("WAITING", head.jobs.wait(WAITING, 60).status.value, head.jobs.get(WAITING).result, flush=True)
head.shutdown()
"""


def test_kill_dash_nine_then_restart(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "executions.log"
    (tmp_path / "first.py").write_text(textwrap.dedent(FIRST_LIFE))
    (tmp_path / "second.py").write_text(textwrap.dedent(SECOND_LIFE))
    env = {
        **os.environ,
        "MAX_CONCURRENT_JOBS": "1",  # the LOW job must still be queued at the kill
        # the restarted queue looks at its recovered jobs on its first tick, one interval
        # (5 s by default) after it starts: a short one keeps the test short
        "PYCLUSTER_JOB_CHECK_INTERVAL": "0.2s",
    }
    first = subprocess.Popen(
        [sys.executable, str(tmp_path / "first.py"), str(state), str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert first.stdout is not None
    _, mapped_id, waiting_id = first.stdout.readline().split()
    assert first.stdout.readline().strip() == "KILL ME"
    checkpointed = {int(p.stem) for p in (state / "checkpoints" / mapped_id).glob("*.pkl")}
    assert len(checkpointed) >= 4
    family = [psutil.Process(first.pid), *descendants(first.pid)]
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    # the local workers notice their parent is gone and exit by themselves
    wait_for(lambda: all_gone(family), 30, what="the killed head's workers to exit")

    second = subprocess.run(
        [sys.executable, str(tmp_path / "second.py"), str(state), mapped_id, waiting_id],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"MAPPED completed {[x * 10 for x in range(12)]}" in second.stdout
    assert "WAITING completed {'echo': 'still here'}" in second.stdout
    executions = [int(line) for line in log.read_text().split()]
    assert sorted(set(executions)) == list(range(12))
    for item in checkpointed:
        assert executions.count(item) == 1, f"item {item} was checkpointed before the crash but ran again"
