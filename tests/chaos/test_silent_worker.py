"""A worker machine that falls silent (``pycluster worker``, its Nanny and its worker process all
stopped with SIGSTOP: no heartbeats and no Nanny to answer, as in a network partition, but on
127.0.0.1 and with no namespaces, so it runs without root) is dropped within worker-ttl and a
second or two, and joins again by itself once it runs again: the head removed it without telling
it to close, so ``pycluster worker`` does not exit asking to be restarted.
The figures are printed (``-s``); ``test_partition.py`` does the same over a real cut link.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask.config
import pytest

from pycluster import HeadNode
from tests.helpers import CliProcess, descendants, running_head, wait_for

TTL = 5.0  # the test's; Dask allows no less than 10 heartbeats, 5 s for one worker
pytestmark = [
    pytest.mark.chaos,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX"),
]


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with dask.config.set({"distributed.scheduler.worker-ttl": f"{TTL}s"}):
        state = tmp_path_factory.mktemp("silent-worker")
        with running_head("silent-worker", state, workers=0, insecure=True) as node:
            yield node


def _workers(head: HeadNode) -> int:
    return len(head.cluster_manager.client.nthreads())


def test_a_silent_worker_is_dropped_at_its_ttl_and_joins_again(head: HeadNode, tmp_path: Path) -> None:
    worker = CliProcess(
        "worker", "--scheduler", head.scheduler_address, "--insecure", "--workers", "1",
        "--threads", "1", "--name", "silent", "--reconnect-timeout", "60",
    )  # fmt: skip
    try:
        worker.wait_for_line("PYCLUSTER-WORKERS-READY", 60)
        wait_for(lambda: _workers(head) == 1, 30, what="the worker to join")
        # our own child (its Nannies run in it) and its worker processes
        stopped = [worker.proc.pid, *(p.pid for p in descendants(worker.proc.pid))]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        wait_for(lambda: _workers(head) == 0, 3 * TTL, interval=0.05, what="the silent worker to be dropped")
        dropped = time.monotonic() - stopped_at
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        wait_for(lambda: _workers(head) == 1, 60, what="the worker to join again")
        rejoined = time.monotonic() - resumed_at
        print(
            f"\nworker-ttl {TTL:.0f}s: dropped {dropped:.1f}s after SIGSTOP, "
            f"back {rejoined:.1f}s after SIGCONT"
        )
        # the last heartbeat came at most 0.5 s before the stop; the check runs every second and
        # waits 1 s for the Nanny (Dask's own: once per TTL, then up to 30 s for the Nanny)
        assert TTL - 1.0 <= dropped <= TTL + 3.0
        assert worker.proc.poll() is None, worker.output[-3000:]  # it rejoined; it did not exit 75
        assert head.jobs.submit(abs, -7).result(timeout=60) == 7
    finally:
        for pid in [worker.proc.pid, *(p.pid for p in descendants(worker.proc.pid))]:
            os.kill(pid, signal.SIGCONT)  # (a no-op on a running process)
        worker.stop()
