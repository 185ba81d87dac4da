"""The CLI habits Dask users bring: a positional scheduler address, --nworkers/--nthreads,
environment variables named in --help, and exit codes 0 / 1 (runtime) / 2 (usage)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from pycluster import ClusterManager
from tests.helpers import CliProcess, cli, running_head, wait_for

HEAD_ARGS = ("--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off")
HEAD_ARGS += ("--no-discovery",)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_new_spellings_size_head_and_worker_and_status_reads_the_address_variable(tmp_path: Path) -> None:
    head = CliProcess("head", "--nworkers", "1", "--nthreads", "2", "--state-dir", str(tmp_path), *HEAD_ARGS)
    worker = None
    try:
        address = head.wait_for_line(r"scheduler:\s+(tls://\S+)").group(1)
        # as `dask worker tls://HOST:8786` is typed: the address positional, no --scheduler
        worker = CliProcess("worker", address, "--nworkers", "2", "--nthreads", "1", "--name", "positional")
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        with ClusterManager.connect(address) as manager:
            wait_for(lambda: len(manager.client.nthreads()) == 3, 30, what="three workers")
            threads = sorted(manager.client.nthreads().values())
        assert threads == [1, 1, 2]  # the head's one worker has --nthreads 2, the others 1
        # no address typed: PYCLUSTER_SCHEDULER_ADDRESS names the cluster
        status = cli("status", env={**os.environ, "PYCLUSTER_SCHEDULER_ADDRESS": address})
        assert status.returncode == 0, status.stderr
        assert "3 workers, 4 cores" in status.stdout and "positional-0" in status.stdout
    finally:
        if worker is not None:
            assert worker.stop() == 0
        head.stop()


def _help(*command: str) -> str:
    """``--help`` of ``command`` with its wrapping undone."""
    return " ".join(cli(*command, "--help").stdout.split())


def test_help_names_every_environment_variable_and_hides_the_old_spellings() -> None:
    worker = _help("worker")
    assert "pycluster worker [OPTIONS] [ADDRESS]" in worker
    for variable in ("PYCLUSTER_SCHEDULER_ADDRESS", "PYCLUSTER_AUTH_KEY"):
        assert f"[env var: {variable}]" in worker
    assert "--nworkers" in worker and "--nthreads" in worker and "--memory-limit" in worker
    assert "--workers " not in worker and "--threads " not in worker
    head = _help("head")
    assert "--nworkers" in head and "--nthreads" in head
    assert "--local-workers" not in head and "--threads-per-worker" not in head
    assert "[env var: PYCLUSTER_API_TOKEN]" in head and "[env var: PYCLUSTER_AUTH_KEY]" in head
    status = _help("status")
    assert "[env var: PYCLUSTER_SCHEDULER_ADDRESS]" in status and "[env var: PYCLUSTER_AUTH_KEY]" in status
    assert "[env var: PYCLUSTER_LOG_LEVEL]" in _help()
    top = cli("--help").stdout
    assert "Exit codes:" in top and "a usage error" in top and "pycluster worker tls://HEAD:8786" in top


def test_usage_errors_exit_2_and_runtime_failures_exit_1() -> None:
    port = _free_port()
    # usage: unknown option, no scheduler at all, two spellings that disagree, two addresses
    for args in (
        ("status", "--no-such-option"),
        ("worker",),
        ("worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1", "--workers", "2"),
        ("head", "--nthreads", "1", "--threads-per-worker", "2"),
        ("worker", f"tcp://127.0.0.1:{port}", "--scheduler", "tcp://127.0.0.1:1"),
    ):
        usage = cli(*args)
        assert usage.returncode == 2, (args, usage.stderr)
        assert "Usage:" in usage.stderr and "Traceback" not in usage.stderr
    # runtime: nothing listens there
    unreachable = cli("worker", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1")
    assert unreachable.returncode == 1, unreachable.stderr
    assert "did not answer" in unreachable.stderr and "Usage:" not in unreachable.stderr


def test_status_on_a_refused_port_fails_at_once_not_after_its_timeout() -> None:
    started = time.monotonic()
    refused = cli("status", f"tcp://127.0.0.1:{_free_port()}", "--timeout", "30")
    elapsed = time.monotonic() - started
    assert refused.returncode == 1 and "did not answer" in refused.stderr, refused.stderr
    # the old status retried a refused connection for its whole --timeout (here 30 s); what is
    # left is interpreter start-up on a busy machine
    assert elapsed < 15, elapsed


def test_status_with_a_wrong_key_exits_1(tmp_path: Path) -> None:
    with running_head("keyed-status", tmp_path, workers=0) as head:
        assert head.scheduler_address and head.scheduler_address.startswith("tls://")
        wrong = cli("status", head.scheduler_address, "--auth-key", "x" * 40, "--timeout", "5")
        assert wrong.returncode == 1, wrong.stderr
        assert "Traceback" not in wrong.stderr and "error:" in wrong.stderr
        right = cli("status", head.scheduler_address, "--auth-key", head.auth_key or "", "--timeout", "10")
        assert right.returncode == 0, right.stderr
        assert "0 workers" in right.stdout
