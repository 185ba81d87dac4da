"""A worker pointed at a port that accepts TCP but never speaks Dask gives up on time, saying why."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import ClusterManager
from pycluster.errors import SchedulerUnreachableError
from tests.helpers import CliProcess, cli, running_head

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

CONNECT_TIMEOUT = 5.0
# on top of the timeout: the interpreter's start (2-4 s on a busy 2-core machine; the timeout
# counts from when the worker starts connecting) and the diagnosis's own second. Before the
# fix a silent port took 69 s
SLACK = 6.0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening socket that accepts connections (the kernel does) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _worker(address: str) -> tuple[float, str, int]:
    started = time.monotonic()
    result = cli("worker", "--scheduler", address, "--connect-timeout", f"{CONNECT_TIMEOUT:g}")
    return time.monotonic() - started, result.stderr + result.stdout, result.returncode


def test_worker_gives_up_on_a_silent_port_within_its_connect_timeout(silent_port: int) -> None:
    address = f"tcp://127.0.0.1:{silent_port}"
    seconds, output, code = _worker(address)
    print(f"silent port: gave up after {seconds:.1f}s (--connect-timeout {CONNECT_TIMEOUT:g})")
    assert code != 0
    assert seconds < CONNECT_TIMEOUT + SLACK, output
    assert address in output and "never answers" in output and "8786" in output, output
    assert "Traceback" not in output


def test_worker_given_the_dashboard_port_says_it_is_an_http_port() -> None:
    head = CliProcess(
        "head", "--local-workers", "0", "--scheduler-port", "0", "--dashboard-port", "0",
        "--dask-dashboard-port", "off",
    )  # fmt: skip
    try:
        dashboard = head.wait_for_line(r"dashboard:\s+http://([\d.]+:\d+)").group(1)
        for scheme in ("tcp", "tls"):  # with and without the cluster key's TLS
            address = f"{scheme}://{dashboard}"
            seconds, output, code = _worker(address)
            print(f"dashboard port over {scheme}: gave up after {seconds:.1f}s")
            assert code != 0
            assert seconds < CONNECT_TIMEOUT + SLACK, output
            assert address in output and "HTTP port (the dashboard?)" in output, output
            assert "usually on 8786" in output and "Traceback" not in output
    finally:
        head.stop()


def test_a_client_given_the_dashboard_port_says_it_is_an_http_port(tmp_path: Path) -> None:
    """The web server answers Dask's handshake with "400 Bad Request" at once; Dask reads those
    bytes as a frame length (an allocation of exabytes): the user gets the diagnosis instead."""
    with running_head("wrong-port", tmp_path / "state", workers=0) as node:
        dashboard = node.dashboard_url.rsplit(":", 1)[1]
        with pytest.raises(SchedulerUnreachableError, match="HTTP port"):
            ClusterManager.connect(f"tcp://127.0.0.1:{dashboard}", timeout=5)
