"""The pycluster command as a user runs it: real subprocesses on 127.0.0.1."""

from __future__ import annotations

import signal
import socket

import psutil

from pycluster import ClusterManager
from tests.helpers import CliProcess, all_gone, cli, descendants, wait_for

HEAD_ARGS = ("--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off")


def _address(head: CliProcess) -> str:
    return head.wait_for_line(r"scheduler:\s+(tls://\S+)").group(1)


def test_head_and_worker_subprocesses_run_a_task_and_sigterm_leaves_nothing() -> None:
    head = CliProcess("head", "--cluster-name", "cli-test", "--local-workers", "1", *HEAD_ARGS)
    worker = None
    try:
        address = _address(head)
        assert "Join a worker from another machine:" in head.output or head.wait_for_line("Join a worker")
        worker = CliProcess("worker", "--scheduler", address, "--name", "cli-worker", "--threads", "1")
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        with ClusterManager.connect(address) as manager:
            wait_for(lambda: len(manager.client.nthreads()) == 2, 30)
            assert manager.submit_task(lambda x: x + 1, 41).result(timeout=30) == 42
        status = cli("status", address)
        assert status.returncode == 0, status.stderr
        assert "cli-worker" in status.stdout and "2 workers" in status.stdout
        family = [psutil.Process(head.proc.pid), *descendants(head.proc.pid)]
        assert len(family) >= 2  # the head and its local worker process
        head.proc.send_signal(signal.SIGTERM)
        assert head.proc.wait(30) == 0
        wait_for(lambda: all_gone(family), 20, what="every process of the head to exit")
        assert "Stopped." in head.output
    finally:
        head.stop()
        if worker is not None:
            worker_family = [psutil.Process(worker.proc.pid), *descendants(worker.proc.pid)]
            worker.proc.send_signal(signal.SIGINT)
            worker.proc.wait(30)
            wait_for(lambda: all_gone(worker_family), 20)


def test_pycluster_head_and_worker_entry_points() -> None:
    head = CliProcess(
        "--cluster-name", "doc-style", "--local-workers", "0", *HEAD_ARGS, program="pycluster-head"
    )
    try:
        address = _address(head)
        worker = CliProcess(
            "--scheduler", address, "--workers", "2", "--threads", "1", program="pycluster-worker"
        )
        ready = worker.wait_for_line(r"PYCLUSTER-WORKERS-READY (.*)")
        assert ready.group(1).count("tls://") == 2  # every head has a key: TLS
        assert worker.stop() == 0
    finally:
        head.stop()


def test_worker_with_unreachable_scheduler_exits_with_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("worker", "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1")
    assert result.returncode != 0
    assert f"tcp://127.0.0.1:{port} did not answer within 1s" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_options_give_errors_not_tracebacks() -> None:
    bad = cli("head", "--scheduler-port", "99999")
    assert bad.returncode != 0 and "cluster.scheduler_port" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("worker", "--scheduler", "tcp://127.0.0.1:1", "--resources", "GPU")
    assert bad.returncode != 0 and "has no '='" in bad.stderr
    bad = cli("status", "tcp://127.0.0.1:1", "--timeout", "0.5")
    assert bad.returncode != 0 and "did not answer" in bad.stderr
    missing = cli("worker")
    assert missing.returncode != 0 and "--scheduler" in missing.stderr and "Traceback" not in missing.stderr


def test_absurd_memory_limits_are_refused_before_anything_starts() -> None:
    """--memory-limit 2 (bytes) once crashed head start-up with an 80-line CommClosedError."""
    for command in (
        ("head", *HEAD_ARGS, "--local-workers", "1"),
        ("worker", "--scheduler", "tcp://127.0.0.1:1"),
    ):
        for limit, says in (
            ("2", "below the 64 MiB"),
            ("0.000001", "below the 64 MiB"),
            ("900TB", "over 4 times"),
        ):
            bad = cli(*command, "--memory-limit", limit)
            output = bad.stderr + bad.stdout
            assert bad.returncode == 1, output
            assert says in output and "memory_limit" in output and "Traceback" not in output, output
            assert "is running" not in output


def test_help_explains_every_command() -> None:
    top = cli("--help")
    assert top.returncode == 0
    for command in ("head", "worker", "status"):
        assert command in top.stdout
        helped = cli(command, "--help")
        assert helped.returncode == 0 and "--" in helped.stdout
    assert "--nworkers" in cli("head", "--help").stdout
    assert "--resources" in cli("worker", "--help").stdout


def test_env_variables_configure_the_head() -> None:
    env = {"PYCLUSTER_CLUSTER_NAME": "from-env", "DASK_N_WORKERS": "1", "DASK_THREADS_PER_WORKER": "1"}
    head = CliProcess("head", *HEAD_ARGS, env=env)
    try:
        head.wait_for_line(r"pycluster head 'from-env' is running")
        assert head.wait_for_line(r"local workers:\s+(\d+)").group(1) == "1"
    finally:
        head.stop()
