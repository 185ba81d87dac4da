"""A `pycluster worker` whose head is killed: it waits, rejoins the restarted head, or gives up loudly."""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest

from pycluster import ClusterManager
from pycluster.cluster.worker_runner import HEAD_LOST_EXIT_CODE
from tests.helpers import CliProcess, all_gone, descendants, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _head(port: int, state_dir: Path) -> tuple[CliProcess, str]:
    head = CliProcess(
        "head", "--local-workers", "0", "--scheduler-port", str(port), "--dashboard-port", "0",
        "--dask-dashboard-port", "off", "--state-dir", str(state_dir),
    )  # fmt: skip
    return head, head.wait_for_line(r"scheduler:\s+(tls://\S+)").group(1)


def _kill_hard(process: CliProcess) -> None:
    process.proc.send_signal(signal.SIGKILL)
    process.proc.wait(10)


def _stop_worker(worker: CliProcess) -> None:
    if worker.proc.poll() is None:
        family = [psutil.Process(worker.proc.pid), *descendants(worker.proc.pid)]
        worker.stop()
        wait_for(lambda: all_gone(family), 20, what="the worker's processes to exit")


@pytest.mark.parametrize("nanny", [True, False], ids=["nanny", "no-nanny"])
def test_worker_rejoins_a_head_restarted_on_the_same_port(tmp_path: Path, nanny: bool) -> None:
    port = _free_port()
    head, address = _head(port, tmp_path)
    flags = () if nanny else ("--no-nanny",)
    worker = CliProcess(
        "worker", "--scheduler", address, "--name", "survivor", "--reconnect-timeout", "60", *flags
    )
    restarted = None
    try:
        worker.wait_for_line("PYCLUSTER-WORKERS-READY", 60)
        _kill_hard(head)
        killed_at = time.monotonic()
        worker.wait_for_line("lost the scheduler at", 30)
        noticed = time.monotonic() - killed_at
        time.sleep(2)  # the head stays away a while: the worker must keep waiting, not exit
        assert worker.proc.poll() is None, worker.output
        restarted, again = _head(port, tmp_path)
        assert again == address
        head_back = time.monotonic() - killed_at
        worker.wait_for_line("rejoined the scheduler at", 60)
        rejoined = time.monotonic() - killed_at
        with ClusterManager.connect(address) as manager:
            wait_for(lambda: len(manager.client.nthreads()) == 1, 30, what="the worker in the new head")
            assert manager.submit_task(lambda x: x * 2, 21).result(timeout=30) == 42
            names = {w["name"] for w in manager.client.scheduler_info()["workers"].values()}
        assert names == {"survivor"}
        print(
            f"{'nanny' if nanny else 'no nanny'}: head killed -> worker noticed in {noticed:.1f}s; "
            f"head back after {head_back:.1f}s; "
            f"worker rejoined after {rejoined:.1f}s ({rejoined - head_back:.1f}s after the head)"
        )
    finally:
        _stop_worker(worker)
        if restarted is not None:
            restarted.stop()
        head.stop()


def test_worker_gives_up_after_its_reconnect_timeout_and_exits_non_zero(tmp_path: Path) -> None:
    head, address = _head(_free_port(), tmp_path)
    worker = CliProcess("worker", "--scheduler", address, "--reconnect-timeout", "3")
    try:
        worker.wait_for_line("PYCLUSTER-WORKERS-READY", 60)
        _kill_hard(head)
        killed_at = time.monotonic()
        code = worker.proc.wait(30)
        seconds = time.monotonic() - killed_at
        worker.stop()
        print(f"head killed, none restarted: worker exited with {code} after {seconds:.1f}s (timeout 3s)")
        assert code == HEAD_LOST_EXIT_CODE, worker.output
        assert 3 <= seconds < 15, worker.output
        assert f"gave up on the scheduler at {address}" in worker.output
        assert "--reconnect-timeout" in worker.output
        # no traceback of ours (Dask's Nanny sometimes prints one from its own stop-queue
        # thread as the worker process goes, which is Dask's noise, not a crash here)
        ours = re.compile(r"[/\\](?:src|site-packages)[/\\]pycluster[/\\]")  # a frame in our code
        assert not [t for t in worker.output.split("Traceback")[1:] if ours.search(t)], worker.output
    finally:
        _stop_worker(worker)
        head.stop()
