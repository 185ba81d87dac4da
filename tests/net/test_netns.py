"""Discovery across network namespaces: a head in one, a client and a worker in another.

The probe goes to the namespaces' subnet broadcast address (10.213.0.255), never
anywhere else; the namespaces have no route out.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers import CliProcess, wait_for

from .netns import BROADCAST, Namespaces, exec_prefix, namespaces

PYTHON = sys.executable
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux only"),
]


@pytest.fixture(scope="module")
def nets() -> Iterator[Namespaces]:
    with namespaces({"a": 1, "b": 2, "c": 3}) as created:
        yield created


def run_in(ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*exec_prefix(ns), PYTHON, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_head(ns: str, name: str, host: str) -> CliProcess:
    prefix = exec_prefix(ns)
    head = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "head", "--cluster-name", name, "--host", host,
        "--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off",
        "--discovery-port", "8788", "--local-workers", "0",
        "--state-dir", tempfile.mkdtemp(prefix=f"{name}-"),  # one head per state directory
        "--insecure",  # these tests are about discovery; keyed heads: tests/cluster/test_auth_cluster.py
        program=prefix[0],
    )  # fmt: skip
    head.wait_for_line(r"discovery:\s+UDP 8788")
    return head


@pytest.fixture(scope="module")
def head_a(nets: Namespaces) -> Iterator[CliProcess]:
    """A head bound to its namespace's address (listens on that address and the subnet broadcast)."""
    head = start_head(nets["a"], "ns-head-a", nets.addresses["a"])
    yield head
    head.stop()


@pytest.fixture(scope="module")
def head_c(nets: Namespaces) -> Iterator[CliProcess]:
    """A head on all interfaces (0.0.0.0) in a third namespace."""
    head = start_head(nets["c"], "ns-head-c", "0.0.0.0")
    yield head
    head.stop()


def discover_from_b(nets: Namespaces) -> list[dict]:
    done = run_in(
        nets["b"],
        "-m",
        "pycluster",
        "discover",
        "--broadcast-address",
        BROADCAST,
        "--timeout",
        "1.5",
        "--json",
    )
    assert done.returncode in (0, 1), done.stderr
    return sorted(json.loads(done.stdout), key=lambda c: c["cluster_name"])


def test_namespaces_have_no_route_out(nets: Namespaces) -> None:
    for role in ("a", "b", "c"):
        routes = nets.routes(role)
        assert "default" not in routes
        assert routes.strip().startswith("10.213.0.0/24")


def test_broadcast_finds_the_head_and_a_worker_joins_it_by_the_discovered_address(
    nets: Namespaces, head_a: CliProcess
) -> None:
    (found,) = discover_from_b(nets)
    assert found["cluster_name"] == "ns-head-a"
    assert found["scheduler_address"].startswith("tcp://10.213.0.1:")
    # a head on a non-loopback address never runs without an API token (one is generated);
    # --insecure: no cluster key, so its answers cannot be verified
    assert found["host"] == "10.213.0.1" and found["requires_token"] is True
    assert found["requires_key"] is False and found["verified"] is False
    prefix = exec_prefix(nets["b"])
    worker = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "worker", "--discover", "--insecure",
        "--broadcast-address", BROADCAST,
        "--discover-timeout", "1.5", "--workers", "1", "--threads", "1", "--name", "ns-worker-b",
        program=prefix[0],
    )  # fmt: skip
    try:
        worker.wait_for_line(rf"discovered 'ns-head-a' at {found['scheduler_address']}")
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        task = (
            "import sys; from distributed import Client, get_worker\n"
            "with Client(sys.argv[1], timeout=20) as c:\n"
            "    print(c.submit(lambda x: (x * 2, get_worker().address), 21, pure=False).result(timeout=30))"
        )
        done = run_in(nets["b"], "-c", task, found["scheduler_address"])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().startswith("(42, 'tcp://10.213.0.2:")  # ran on the worker in namespace b
    finally:
        assert worker.stop() is not None


def test_several_heads_answer_and_a_worker_without_a_terminal_asks_for_a_choice(
    nets: Namespaces, head_a: CliProcess, head_c: CliProcess
) -> None:
    found = discover_from_b(nets)
    assert [c["cluster_name"] for c in found] == ["ns-head-a", "ns-head-c"]
    # the head on 0.0.0.0 is reported at the address that answered, which the worker can reach
    assert found[1]["scheduler_address"].startswith("tcp://10.213.0.3:")
    assert found[1]["bind_host"] == "0.0.0.0"
    done = run_in(
        nets["b"],
        "-m",
        "pycluster",
        "worker",
        "--discover",
        "--insecure",  # the heads have no cluster key
        "--broadcast-address",
        BROADCAST,
        "--discover-timeout",
        "1.5",
    )
    assert done.returncode == 1
    assert "2 clusters answered and there is no terminal to ask" in done.stderr
    assert "ns-head-a" in done.stderr and "ns-head-c" in done.stderr and "--scheduler" in done.stderr
    checked = run_in(nets["b"], "-m", "pycluster", "test-connection", found[1]["scheduler_address"], "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = json.loads(checked.stdout)
    assert result["can_connect"] and result["dashboard_reachable"]
    assert result["dashboard_url"] == found[1]["dashboard_url"]  # asked from the head's responder


def test_a_worker_with_a_terminal_asks_which_cluster_to_join(
    nets: Namespaces, head_a: CliProcess, head_c: CliProcess
) -> None:
    import pty  # POSIX only, like the namespaces

    controller, terminal = pty.openpty()
    argv = [*exec_prefix(nets["b"]), PYTHON, "-m", "pycluster", "worker", "--discover", "--insecure"]
    argv += [
        "--broadcast-address",
        BROADCAST,
        "--discover-timeout",
        "1.5",
        "--workers",
        "1",
        "--threads",
        "1",
    ]
    proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = b""

    def read_until(text: bytes) -> bool:
        nonlocal output
        readable, _, _ = select.select([controller], [], [], 0.2)  # never block past wait_for's deadline
        if readable:
            with contextlib.suppress(OSError):  # EIO once the worker has closed the terminal
                output += os.read(controller, 4096)
        return text in output

    try:
        wait_for(lambda: read_until(b"Join which one?"), timeout=60, what="the prompt")
        assert b"[1] 'ns-head-a'" in output and b"[2] 'ns-head-c'" in output
        os.write(controller, b"2\n")
        wait_for(lambda: read_until(b"PYCLUSTER-WORKERS-READY"), timeout=60, what="the worker joining")
        assert b"discovered 'ns-head-c' at tcp://10.213.0.3:" in output
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(controller)


FORGER = """
import socket, sys
from pycluster.net.protocol import decode_probe, encode_announce
info = {"cluster_name": "ns-keyed", "scheduler_address": "tcp://10.213.0.3:9999", "dashboard_url": None,
        "version": "0.1.0", "requires_key": False, "requires_token": False, "host": "10.213.0.3",
        "scheduler_port": 9999, "dashboard_port": None, "discovery_port": int(sys.argv[1])}
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
print("FORGER-READY", flush=True)
while True:
    data, addr = sock.recvfrom(4096)
    nonce = decode_probe(data)
    if nonce is not None:
        sock.sendto(encode_announce(info, nonce), addr)
"""


def test_a_keyed_worker_joins_the_keyed_head_and_not_a_forger_on_the_same_broadcast(nets: Namespaces) -> None:
    """The attack from the security review, across namespaces: a forger in c answers the same
    broadcast probe as a keyed head in a, naming its own tcp:// scheduler and the same name."""
    import secrets

    key = secrets.token_urlsafe(32)
    port = "8790"  # not the module heads' 8788
    prefix = exec_prefix(nets["a"])
    head = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "head", "--cluster-name", "ns-keyed",
        "--host", nets.addresses["a"], "--scheduler-port", "0", "--dashboard-port", "0",
        "--dask-dashboard-port", "off", "--discovery-port", port, "--local-workers", "0",
        "--state-dir", tempfile.mkdtemp(prefix="ns-keyed-"),
        program=prefix[0], env={"PYCLUSTER_AUTH_KEY": key},
    )  # fmt: skip
    forger_prefix = exec_prefix(nets["c"])
    forger = CliProcess(*forger_prefix[1:], PYTHON, "-c", FORGER, port, program=forger_prefix[0])
    worker_prefix = exec_prefix(nets["b"])
    discover = [PYTHON, "-m", "pycluster", "worker", "--discover", "--broadcast-address", BROADCAST]
    discover += ["--discovery-port", port, "--discover-timeout", "1.5"]
    worker = None
    try:
        head.wait_for_line(rf"discovery:\s+UDP {port}")
        forger.wait_for_line("FORGER-READY")
        listed = run_in(nets["b"], "-m", "pycluster", "discover", "--broadcast-address", BROADCAST,
                        "--port", port, "--timeout", "1.5", "--json")  # fmt: skip
        found = json.loads(listed.stdout)
        assert sorted((c["scheduler_address"].rsplit(":", 1)[0], c["verified"]) for c in found) == [
            ("tcp://10.213.0.3", False),  # both answered; without a key neither is verified
            ("tls://10.213.0.1", False),
        ]
        refused = subprocess.run(
            [*worker_prefix, *discover], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
        assert refused.returncode == 1 and "--discover without a cluster key" in refused.stderr
        worker = CliProcess(
            *worker_prefix[1:], *discover, "--workers", "1", "--threads", "1",
            program=worker_prefix[0], env={"PYCLUSTER_AUTH_KEY": key},
        )  # fmt: skip
        worker.wait_for_line(r"discovered 'ns-keyed' at tls://10\.213\.0\.1:\d+ .*verified\); joining it")
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        assert "10.213.0.3" not in worker.output
    finally:
        for proc in (worker, forger, head):
            if proc is not None:
                proc.stop()


@pytest.mark.slow
def test_a_scan_with_no_range_covers_the_own_subnet_and_discover_cluster_nodes_finds_the_head(
    nets: Namespaces, head_a: CliProcess
) -> None:
    # other tests of this module may leave heads of their own in the namespaces: pick head a's answer
    (heard,) = [c for c in discover_from_b(nets) if c["cluster_name"] == "ns-head-a"]
    scheduler_port = int(heard["scheduler_address"].rsplit(":", 1)[1])
    dashboard_port = int(heard["dashboard_url"].rsplit(":", 1)[1])
    # inside namespace b: eth0 10.213.0.2/24 and lo; no range given, so the scan picks 10.213.0.0/24
    script = (
        "import json, sys\n"
        "from pycluster import NetworkDiscovery\n"
        "ports = [int(p) for p in sys.argv[1:]]\n"
        "d = NetworkDiscovery()\n"
        "print(json.dumps([d.scan_network_for_clusters(ports=ports), d.discover_cluster_nodes(ports=ports),\n"
        "    d.discover_cluster_nodes(timeout=1.5)]))\n"
    )
    done = run_in(nets["b"], "-c", script, str(scheduler_port), str(dashboard_port))
    assert done.returncode == 0, done.stderr
    scanned, both, plain = json.loads(done.stdout)
    assert all(s["host"].startswith("10.213.0.") for s in scanned)  # loopback was not scanned
    (found,) = [s for s in scanned if s["host"] == "10.213.0.1"]
    assert found["open_ports"] == [scheduler_port, dashboard_port]
    assert found["requires_token"] is True  # a stranger's scan: the head says only that
    (node,) = [n for n in both if n["cluster_name"] == "ns-head-a"]
    assert node["cluster_name"] == "ns-head-a" and node["scheduler_address"] == heard["scheduler_address"]
    assert node["found_by"] == ["broadcast", "scan"] and node["host"] == "10.213.0.1"
    # the document's call, no arguments: the broadcast answer (the head's ports are not the defaults)
    assert ("ns-head-a", ["broadcast"]) in [(n["cluster_name"], n["found_by"]) for n in plain]
