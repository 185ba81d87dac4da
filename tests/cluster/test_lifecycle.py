"""Start and stop heads again and again in one process: nothing is left behind.

After each stop the process has the same open file descriptors, threads, child
processes and listening sockets as before the first start, and the next head
starts on the same fixed ports. Stopping a ``pycluster head`` process (SIGTERM),
also under a child subreaper (tini, systemd, a container's init), leaves no
process behind and takes well under a second or two, not the 7.8 s it once did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pycluster import ClusterManager, HeadNode
from pycluster.minimal import MasterNode, WorkerNode
from tests.helpers import BIN, all_gone, descendants, wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="psutil fd counts and prctl: Linux")

ROUNDS = 20
# Threads a process keeps once something has used them, whoever started the first head:
# Dask's one offload thread (distributed.utils._offload_executor, a process-wide pool)
# and the threads of concurrent.futures pools that Python never shrinks.
PROCESS_WIDE_THREADS = ("Dask-Offload", "ThreadPoolExecutor")


@dataclass(frozen=True)
class Footprint:
    fds: int
    threads: tuple[str, ...]
    children: tuple[int, ...]
    listening: tuple[int, ...]

    @classmethod
    def now(cls) -> Footprint:
        me = psutil.Process()
        threads = sorted(t.name for t in threading.enumerate() if not t.name.startswith(PROCESS_WIDE_THREADS))
        children = [p.pid for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
        listening = [c.laddr.port for c in me.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        return cls(me.num_fds(), tuple(threads), tuple(sorted(children)), tuple(sorted(listening)))


def assert_back_to(baseline: Footprint, what: str) -> None:
    # the loop thread ends in shutdown(), but a daemon thread may still be leaving run()
    footprint = wait_for(lambda: _same(baseline), 10, interval=0.05, what=f"{what}: back to {baseline}")
    assert footprint == baseline


def _same(baseline: Footprint) -> Footprint | None:
    now = Footprint.now()
    return now if now == baseline else None


@pytest.fixture
def ports() -> Iterator[tuple[int, int, int]]:
    """Three free ports on 127.0.0.1, picked once and reused by every round."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(3)]
    picked = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    yield picked[0], picked[1], picked[2]


def _head(ports: tuple[int, int, int], state_dir: Path) -> HeadNode:
    scheduler, dashboard, diagnostics = ports
    return HeadNode(
        "lifecycle",
        scheduler_port=scheduler,
        dashboard_port=dashboard,
        dask_dashboard_port=diagnostics,
        state_dir=str(state_dir),
    )


def test_twenty_heads_on_the_same_ports_leave_nothing_behind(
    ports: tuple[int, int, int], tmp_path: Path
) -> None:
    # a first round loads the modules and starts the process-wide pools, once per process
    with _head(ports, tmp_path) as head:
        head.start(n_local_workers=1, threads_per_worker=1)
        assert head.cluster_manager.submit_task(pow, 2, 5).result(timeout=30) == 32
    baseline = Footprint.now()
    assert baseline.listening == () and baseline.children == ()
    for i in range(ROUNDS):
        workers = 1 if i in (0, ROUNDS // 2) else 0  # workers are slow to start: only twice
        head = _head(ports, tmp_path)
        info = head.start(n_local_workers=workers, threads_per_worker=1)
        assert info["status"] == "success", info
        assert info["scheduler_address"].endswith(f":{ports[0]}")
        assert set(Footprint.now().listening) >= set(ports[:2])
        if workers:
            assert head.cluster_manager.gather([head.cluster_manager.submit_task(pow, 3, 2)]) == [9]
        head.shutdown()
        assert_back_to(baseline, f"round {i}")


def test_async_with_head_astart_and_aclose(ports: tuple[int, int, int], tmp_path: Path) -> None:
    with _head(ports, tmp_path) as head:  # loads the modules and the process-wide pools once
        head.start(n_local_workers=0)
    baseline = Footprint.now()

    async def main() -> tuple[dict[str, object], int, int]:
        async with _head(ports, tmp_path) as head:
            info = await head.astart(n_local_workers=1, threads_per_worker=1)
            future = head.cluster_manager.submit_task(pow, 2, 5)
            result = await asyncio.to_thread(future.result, 30)
            identity = await head.snapshot()  # read on the head's loop from this one
            status = await head.cluster_status()
            assert status.summary.n_workers == len(identity["workers"]) == 1
            assert (await head.astart())["status"] == "already_running"
        assert not head.is_running
        return info, result, status.summary.n_workers

    info, result, n_workers = asyncio.run(main())
    assert info["status"] == "success" and result == 32 and n_workers == 1
    assert_back_to(baseline, "async with HeadNode")


def test_cluster_manager_start_head_node_and_shutdown(ports: tuple[int, int, int], tmp_path: Path) -> None:
    fixed = {"scheduler_port": ports[0], "dashboard_port": ports[1], "dask_dashboard_port": ports[2]}
    manager = ClusterManager("lifecycle")
    manager.start_head_node(**fixed, state_dir=str(tmp_path))
    manager.shutdown()
    baseline = Footprint.now()
    for i in range(5):
        manager = ClusterManager("lifecycle")
        info = manager.start_head_node(**fixed, n_local_workers=1 if i == 0 else 0, state_dir=str(tmp_path))
        assert info["status"] == "success", info
        manager.shutdown()
        assert_back_to(baseline, f"ClusterManager round {i}")


def test_master_node_start_and_shutdown(ports: tuple[int, int, int]) -> None:
    key = "lifecycle-test-key-" + os.urandom(8).hex()
    master = MasterNode("127.0.0.1", ports[0], key)
    master.start_master_server(if_join_as_worker=False)
    master.shutdown()
    baseline = Footprint.now()
    for i in range(3):
        master = MasterNode("127.0.0.1", ports[0], key)
        master.start_master_server(if_join_as_worker=False)
        assert ports[0] == master.PORT
        master.shutdown()
        assert_back_to(baseline, f"MasterNode round {i}")


def test_master_shutdown_does_not_wait_for_joined_workers(ports: tuple[int, int, int]) -> None:
    key = "lifecycle-test-key-" + os.urandom(8).hex()
    master = MasterNode("127.0.0.1", ports[0], key)
    master.start_master_server(if_join_as_worker=False)
    worker = WorkerNode("127.0.0.1", master.PORT, key, nprocs=1, quiet=True)
    joined = threading.Thread(target=worker.join_cluster, daemon=True)
    joined.start()
    wait_for(lambda: worker.worker_addresses, 60, what="the worker to join")
    processes = descendants(os.getpid())
    started = time.monotonic()
    master.shutdown()
    joined.join(10)  # the worker once waited 15 s (its death timeout) for a master that is gone
    took = time.monotonic() - started
    print(f"MasterNode.shutdown() with a joined WorkerNode: worker gone after {took:.2f}s")
    assert not joined.is_alive()
    assert took < 5
    wait_for(lambda: all_gone(processes), 10, what="the worker processes to end")


# A launcher that becomes a child subreaper (as tini, dumb-init or systemd are) and runs the
# command as its child: orphans of the command are reparented to it, and it reaps nobody
# but its own child, so they stay zombies until it exits.
SUBREAPER = textwrap.dedent(
    """
    import ctypes, subprocess, sys
    PR_SET_CHILD_SUBREAPER = 36
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    sys.exit(subprocess.call(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("subreaper", [False, True], ids=["plain", "under-subreaper"])
def test_sigterm_of_a_head_process_leaves_no_children(subreaper: bool, tmp_path: Path) -> None:
    ports = ["--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "0", "--no-discovery"]
    workers = ["--local-workers", "2", "--threads-per-worker", "1"]
    command = [str(BIN / "pycluster"), "head", *ports, *workers, "--state-dir", str(tmp_path)]
    if subreaper:
        command = [sys.executable, "-c", SUBREAPER, *command]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the banner arrives while it runs
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(launcher.stdout or []), daemon=True)
        reader.start()
        wait_for(
            lambda: any("local workers:" in line for line in output) or launcher.poll() is not None,
            60,
            what="the head to start",
        )
        assert launcher.poll() is None, "".join(output)
        head = psutil.Process(launcher.pid) if not subreaper else psutil.Process(launcher.pid).children()[0]
        family = [head, *head.children(recursive=True)]
        assert len(family) >= 3, family  # the head and its worker processes
        started = time.monotonic()
        head.send_signal(signal.SIGTERM)
        wait_for(lambda: all_gone(family), 30, interval=0.01, what="the head and its workers to end")
        took = time.monotonic() - started
        where = " under a subreaper" if subreaper else ""
        print(f"SIGTERM to a head with 2 local workers{where}: {took:.2f}s")
        assert launcher.wait(30) == 0, "".join(output)
        assert "Stopped." in "".join(output)
        assert took < 10
    finally:
        for p in descendants(launcher.pid):
            p.kill()
        launcher.kill()
        launcher.wait(10)


FORGOTTEN_SHUTDOWN = textwrap.dedent(
    """
    import sys
    from pycluster import HeadNode, WorkerNode

    head = HeadNode("forgotten", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False,
                    state_dir=sys.argv[1])
    head.start(n_local_workers=1, threads_per_worker=1)
    worker = WorkerNode(head.scheduler_address, auth_key=head.auth_key)
    worker.start(n_workers=1, threads_per_worker=1)
    assert head.cluster_manager.submit_task(abs, -3).result(timeout=60) == 3
    print("pids", *[p.pid for p in __import__("psutil").Process().children(recursive=True)], flush=True)
    # ends without head.shutdown() or worker.shutdown()
    """
)


def test_a_script_that_never_shuts_down_exits_cleanly(tmp_path: Path) -> None:
    """Nodes left running at exit are stopped quietly: no service's stop failing with a
    traceback because the interpreter's thread pools had already closed, no process left."""
    script = tmp_path / "forgotten.py"
    script.write_text(FORGOTTEN_SHUTDOWN)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "failed" not in done.stderr, done.stderr
    pids = [int(p) for line in done.stdout.splitlines() if line.startswith("pids") for p in line.split()[1:]]
    assert len(pids) >= 2, done.stdout  # the head's local worker and the WorkerNode's processes
    children = []
    for pid in pids:
        try:
            children.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    wait_for(lambda: all_gone(children), 10, what="every worker process to have ended")
