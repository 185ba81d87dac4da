"""An authenticated cluster on 127.0.0.1: TLS everywhere, and only holders of the key get in."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from cryptography import x509
from distributed import Client

from pycluster import AuthenticationError, ClusterManager, HeadNode, WorkerNode
from pycluster.cluster.ports import split_address
from tests.helpers import CliProcess, cli, wait_for

KEY = "test-cluster-key-0123456789"


@pytest.fixture(scope="module")
def keyed_head() -> Iterator[HeadNode]:
    node = HeadNode("keyed", scheduler_port=0, dask_dashboard_port=False, services=(), auth_key=KEY)
    node.start(n_local_workers=1, threads_per_worker=1)
    yield node
    node.shutdown()


def _tasks_run(head: HeadNode) -> int:
    prefixes = head._scheduler.task_prefixes.values()
    return sum(p.states.get("memory", 0) + p.states.get("erred", 0) for p in prefixes)


def test_local_worker_joins_over_tls_and_gets_the_key_by_environment(keyed_head: HeadNode) -> None:
    assert keyed_head.scheduler_address.startswith("tls://")
    assert keyed_head.cluster_manager.submit_task(lambda x: x * 2, 21).result(timeout=30) == 42
    [process] = keyed_head.cluster_manager.local_worker_processes
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    assert all(KEY not in " ".join(p.cmdline()) for p in family)
    assert psutil.Process(process.pid).environ()["PYCLUSTER_AUTH_KEY"] == KEY
    assert KEY not in str(keyed_head.get_connection_info())
    assert all(w.startswith("tls://") for w in keyed_head.cluster_manager.client.nthreads())


def test_client_with_the_key_runs_a_task(keyed_head: HeadNode) -> None:
    with ClusterManager.connect(keyed_head.scheduler_address, auth_key=KEY, timeout=10) as manager:
        assert manager.submit_task(pow, 2, 10).result(timeout=30) == 1024


@pytest.mark.parametrize("key", ["wrong-key-wrong-key-wrong", None], ids=["wrong", "missing"])
def test_client_and_worker_without_the_key_are_refused(
    keyed_head: HeadNode, key: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # as for another user of this machine: the head's connection file (its key) is not theirs to read
    monkeypatch.setenv("PYCLUSTER_RUNTIME_DIR", str(tmp_path))
    plain = keyed_head.scheduler_address.replace("tls://", "tcp://")
    before = _tasks_run(keyed_head)
    clients = len(keyed_head._scheduler.clients)
    with pytest.raises(AuthenticationError, match="--auth-key"):
        ClusterManager.connect(plain, auth_key=key, timeout=5)
    with pytest.raises(AuthenticationError, match="--auth-key"):
        WorkerNode(plain, auth_key=key, timeout=5).start()
    assert len(keyed_head._scheduler.clients) == clients
    assert len(keyed_head.cluster_manager.client.nthreads()) == 1
    assert _tasks_run(keyed_head) == before


def test_plain_dask_and_raw_sockets_get_only_a_tls_handshake(keyed_head: HeadNode) -> None:
    host, port = split_address(keyed_head.scheduler_address)
    with pytest.raises((OSError, TimeoutError)):
        Client(f"tcp://{host}:{port}", timeout=2)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # a plain Dask server speaks first; this one waits for a TLS hello
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sock.settimeout(5)
        try:
            reply = sock.recv(64)
        except ConnectionResetError:
            reply = b""
        assert reply[:1] in (b"\x15", b"")  # a TLS alert record, or a closed (or reset) connection
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=5) as sock, context.wrap_socket(sock) as tls:
        issuer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).issuer
        assert "pycluster cluster CA" in issuer.rfc4514_string()
        with pytest.raises((ssl.SSLError, ConnectionError)):  # no client certificate: refused
            tls.settimeout(5)
            tls.sendall(b"x")
            tls.recv(1)


def test_cli_head_worker_and_status_share_the_key_by_environment(tmp_path: Path) -> None:
    env = {"PYCLUSTER_AUTH_KEY": KEY}
    head = CliProcess(
        "head", "--local-workers", "0", "--scheduler-port", "0", "--dashboard-port", "0",
        "--dask-dashboard-port", "off", env=env,
    )  # fmt: skip
    worker = None
    try:
        address = head.wait_for_line(r"scheduler:\s+(tls://\S+)").group(1)
        worker = CliProcess("worker", "--scheduler", address, "--threads", "1", env=env)
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        status = cli("status", address, env={**env_without_key(), **env})
        assert status.returncode == 0 and "1 workers" in status.stdout, status.stderr
        # this user needs no key on the head's machine (the head's connection file has it) ...
        assert cli("status", address, env=env_without_key()).returncode == 0
        # ... someone without that file does
        refused = cli("status", address, env={**env_without_key(), "PYCLUSTER_RUNTIME_DIR": str(tmp_path)})
        assert refused.returncode == 1 and "needs a cluster key" in refused.stderr
        wait_for(lambda: worker is not None and worker.proc.poll() is None)
    finally:
        if worker is not None:
            worker.stop()
        head.stop()


def env_without_key() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYCLUSTER_AUTH_KEY"}


_AS_ANOTHER_USER = """
import os, sys
from pycluster import AuthenticationError, ClusterManager
import pycluster.cluster.local_heads, pycluster.cluster.security, distributed, psutil, ssl, cryptography.x509
os.environ.pop("PYCLUSTER_RUNTIME_DIR", None)
os.setgid(65534); os.setuid(65534)  # nobody: every module it needs is imported already
try:
    ClusterManager.connect(sys.argv[1], timeout=5)
except AuthenticationError as exc:
    print("refused:", exc)
else:
    print("CONNECTED")
"""


@pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="not run: needs root to become another user"
)
def test_another_user_of_the_machine_cannot_reach_a_loopback_head(tmp_path: Path) -> None:
    with HeadNode("mine", scheduler_port=0, dashboard_port=0, services=(), state_dir=str(tmp_path)) as head:
        head.start(n_local_workers=0)
        assert head.auth_key and head.scheduler_address.startswith("tls://127.0.0.1:")
        with ClusterManager.connect(head.scheduler_address.replace("tls://", "tcp://"), timeout=10):
            pass  # this user: the key comes from the head's connection file
        other = subprocess.run(
            [sys.executable, "-c", _AS_ANOTHER_USER, head.scheduler_address],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "refused:" in other.stdout and "needs a cluster key" in other.stdout, (
            other.stdout + other.stderr
        )
