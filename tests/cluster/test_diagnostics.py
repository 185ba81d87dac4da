"""Dask's own HTTP servers: none when diagnostics are off, loopback-only when on (issue 23, finding 3).

Dask's scheduler and workers always start an HTTP server with no authentication
(worker logs, call stacks, an event stream); these tests look at every listening
socket the head and its workers open and ask each one for Dask's routes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator

import httpx
import psutil
import pytest

from pycluster import HeadNode
from pycluster.cluster.diagnostics import diagnostics_host
from tests.helpers import CliProcess, descendants

# routes of Dask's scheduler (logs, call stacks, identity, event stream) and workers (metrics, health)
DASK_ROUTES = (
    "/json/identity.json",
    "/info/main/workers.html",
    "/info/main/logs.html",
    "/eventstream",
    "/health",
    "/statics/css/base.css",
    "/status",
)
KEY = secrets.token_urlsafe(32)


def listening(pids: Iterable[int]) -> set[tuple[str, int]]:
    found = set()
    for pid in pids:
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN:
                found.add((c.laddr.ip, c.laddr.port))
    return found


def worker_pids(node: HeadNode) -> list[int]:
    pids = []
    for process in node.cluster_manager.local_worker_processes:
        pids += [process.pid, *(p.pid for p in descendants(process.pid))]
    return pids


def http_status(host: str, port: int, path: str) -> int | None:
    """The HTTP status a GET gets, or None when what listens there does not speak HTTP."""
    host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


@pytest.mark.parametrize(
    ("head_host", "requested", "expected"),
    [
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.2", None, "127.0.0.2"),  # a loopback head keeps its own loopback address
        ("::1", None, "::1"),
        ("localhost", None, "127.0.0.1"),
        ("0.0.0.0", None, "127.0.0.1"),  # a network head: never the network by default
        ("::", None, "127.0.0.1"),
        ("192.168.1.10", None, "127.0.0.1"),
        ("head.example.lan", None, "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0", "0.0.0.0"),  # asked for explicitly
        ("10.0.0.5", "10.0.0.5", "10.0.0.5"),
        ("0.0.0.0", "[::1]", "::1"),
    ],
)
def test_diagnostics_bind_host(head_host: str, requested: str | None, expected: str) -> None:
    assert diagnostics_host(head_host, requested) == expected


def test_diagnostics_off_runs_no_dask_http_server_anywhere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = listening([os.getpid()])
    with HeadNode(
        "quiet",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        auth_key=KEY,
        services=("web",),
        state_dir=str(tmp_path),
    ) as node:
        node.start(n_local_workers=1, threads_per_worker=1)
        assert node.cluster_manager.submit_task(lambda x: x + 1, 1).result(timeout=30) == 2
        scheduler = node._scheduler
        assert scheduler.http_server is None and "dashboard" not in scheduler.services
        assert node.dask_dashboard_url is None
        # the head's process opened exactly two listeners: the scheduler (TLS) and our web app
        opened = listening([os.getpid()]) - before
        web_port = node.services["web"].port
        scheduler_port = int(node.scheduler_address.rsplit(":", 1)[1])
        assert {port for _, port in opened} == {scheduler_port, web_port}, opened
        workers = listening(worker_pids(node))
        assert workers, "the workers should listen somewhere (their Dask comms)"
        for host, port in opened | workers:
            for path in DASK_ROUTES:
                status = http_status(host, port, path)
                if port == web_port:  # pycluster's own app: it has none of Dask's routes
                    assert status == 404, (host, port, path, status)
                else:  # Dask comms (TLS): no HTTP at all
                    assert status is None, (host, port, path, status)
        # Dask's client copes with a scheduler without a dashboard (its notebook display too)
        client = node.cluster_manager.client
        assert client.dashboard_link is None
        assert "Client" in client._repr_html_()  # Dask's own Client raises KeyError("dashboard")


def test_diagnostics_on_listen_where_dask_dashboard_url_says(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with HeadNode(
        "diag",
        scheduler_port=0,
        dask_dashboard_port=0,
        dask_dashboard_host="127.0.0.2",
        services=(),
        state_dir=str(tmp_path),
    ) as node:
        node.start(n_local_workers=0)
        server = node._scheduler.http_server
        assert (server.address, node.dask_dashboard_url) == (
            "127.0.0.2",
            f"http://127.0.0.2:{server.port}/status",
        )
        assert httpx.get(node.dask_dashboard_url, timeout=20).status_code == 200
        assert http_status("127.0.0.1", server.port, "/status") is None  # only where it says


def test_local_workers_serve_no_http(head: HeadNode) -> None:
    """The module head of tests/conftest.py (diagnostics on): its workers still serve no HTTP."""
    workers = listening(worker_pids(head))
    assert workers
    for host, port in workers:
        for path in ("/metrics", "/health", "/statics/css/base.css"):
            assert http_status(host, port, path) is None, (host, port, path)
    assert head._scheduler.http_server.address == "127.0.0.1"


def test_minimal_master_runs_no_dask_http_server() -> None:
    from pycluster.minimal import MasterNode

    before = listening([os.getpid()])
    master = MasterNode("127.0.0.1", 0, KEY)
    master.start_master_server(if_join_as_worker=False)
    try:
        assert master._head is not None and master._head._scheduler.http_server is None
        assert {port for _, port in listening([os.getpid()]) - before} == {master.PORT}
    finally:
        master.shutdown()


def test_dask_parallel_backend_runs_no_dask_http_server() -> None:
    from pycluster.parallel.backends.dask_backend import DaskBackend

    before = listening([os.getpid()])
    with DaskBackend(n_workers=1) as backend:
        assert backend.client.submit(abs, -1).result(timeout=30) == 1
        head = backend.head
        assert head is not None and head._scheduler.http_server is None
        scheduler_port = int(head.scheduler_address.rsplit(":", 1)[1])
        assert {port for _, port in listening([os.getpid()]) - before} == {scheduler_port}
        for host, port in listening(worker_pids(head)):
            assert http_status(host, port, "/health") is None


# --------------------------------------------------------------- a head on a network address
@pytest.fixture(scope="module")
def nets() -> Iterator:  # type: ignore[type-arg]
    if sys.platform != "linux":
        pytest.skip("network namespaces are Linux only")
    from tests.net.netns import namespaces

    with namespaces({"head": 1, "peer": 2}) as created:
        yield created


def run_in(ns: str, code: str) -> str:
    from tests.net.netns import exec_prefix

    done = subprocess.run(
        [*exec_prefix(ns), sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


PROBE = """
import json, httpx
out = {}
for host, port in %r:
    for path in %r:
        try:
            out[f"{host}:{port}{path}"] = httpx.get(f"http://{host}:{port}{path}", timeout=5).status_code
        except httpx.TransportError:
            out[f"{host}:{port}{path}"] = None
print(json.dumps(out))
"""


@pytest.mark.netns
def test_network_head_keeps_dask_diagnostics_on_loopback(nets) -> None:  # type: ignore[no-untyped-def]
    """A head on 10.213.0.1 (its own namespace) with diagnostics on: a peer reaches no Dask HTTP."""
    from tests.net.netns import exec_prefix

    address = nets.addresses["head"]
    prefix = exec_prefix(nets["head"])
    head = CliProcess(
        *prefix[1:], sys.executable, "-m", "pycluster", "head", "--host", address,
        "--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "0",
        "--no-discovery", "--local-workers", "1", "--threads-per-worker", "1",
        "--state-dir", tempfile.mkdtemp(prefix="diag-net-"),
        program=prefix[0],
    )  # fmt: skip
    try:
        head.wait_for_line(r"Press Ctrl-C to stop", timeout=90)
        match = re.search(r"Dask diagnostics:\s+http://([\d.]+):(\d+)/status(.*)", head.output)
        assert match, head.output
        diag_port = int(match.group(2))
        assert (match.group(1), match.group(3).strip()) == (
            "127.0.0.1",
            "(this machine only; from another, use an SSH tunnel)",
        ), head.output
        # every TCP listener in the head's namespace: the head and its worker processes
        listeners = json.loads(
            run_in(
                nets["head"],
                "import json, psutil; print(json.dumps(sorted({(c.laddr.ip, c.laddr.port) "
                "for c in psutil.net_connections('tcp') if c.status == psutil.CONN_LISTEN})))",
            )
        )
        assert [ip for ip, port in listeners if port == diag_port] == ["127.0.0.1"], listeners
        inside = json.loads(run_in(nets["head"], PROBE % ([("127.0.0.1", diag_port)], ["/status"])))
        assert inside == {f"127.0.0.1:{diag_port}/status": 200}
        # from the peer: every listener on a non-loopback address, asked for Dask's routes
        reachable = sorted({(address, port) for ip, port in listeners if ip in {address, "0.0.0.0", "::"}})
        reachable.append((address, diag_port))
        answers = json.loads(run_in(nets["peer"], PROBE % (reachable, DASK_ROUTES)))
        answered = {where: status for where, status in answers.items() if status is not None}
        web_port = int(re.search(r"dashboard:\s+http://[\d.]+:(\d+)", head.output).group(1))  # type: ignore[union-attr]
        # only pycluster's web app speaks HTTP to the network, and it has none of Dask's routes
        assert {int(w.split(":")[1].split("/")[0]) for w in answered} <= {web_port}, answers
        assert all(status in {401, 404} for status in answered.values()), answered
    finally:
        head.stop()
