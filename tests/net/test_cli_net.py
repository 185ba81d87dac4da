"""`pycluster discover`, `test-connection`, `ports` and `worker --discover`, as real subprocesses."""

from __future__ import annotations

import json
import socket

from pycluster import HeadNode
from tests.helpers import cli

from .conftest import TOKEN


def test_discover_prints_a_table_and_json(net_head: HeadNode) -> None:
    port = str(net_head.get_connection_info()["discovery_port"])
    table = cli("discover", "--broadcast-address", "127.0.0.1", "--port", port, "--timeout", "0.5")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "SCHEDULER", "DASHBOARD", "KEY", "TOKEN", "VERIFIED", "VERSION"]
    assert row.split() == [
        "net-test",
        net_head.scheduler_address,
        str(net_head.dashboard_url),
        "yes" if net_head.auth_key else "no",
        "yes",
        "NO",  # asked without the cluster key
        "0.1.0",
    ]
    assert "1 of 1 not verified (pass --auth-key / PYCLUSTER_AUTH_KEY to check them)" in table.stderr
    as_json = cli(
        "discover", "--broadcast-address", "127.0.0.1", "--port", port, "--timeout", "0.5", "--json"
    )
    assert json.loads(as_json.stdout)[0]["cluster_name"] == "net-test"
    assert TOKEN not in table.stdout + as_json.stdout


def test_discover_by_scan_and_nothing_found(net_head: HeadNode) -> None:
    scheduler_port = net_head.scheduler_address.rsplit(":", 1)[1]
    dashboard_port = str(net_head.dashboard_url).rsplit(":", 1)[1]
    scanned = cli(
        "discover", "--scan", "127.0.0.1/32", "--ports", f"{scheduler_port},{dashboard_port}", "--json"
    )
    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout)[0]["requires_token"] is False  # the head's own user, on loopback
    assert json.loads(scanned.stdout)[0]["verified"] is False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = str(silent.getsockname()[1])
        none = cli("discover", "--broadcast-address", "127.0.0.1", "--port", port, "--timeout", "0.3")
    assert none.returncode == 1 and "no pycluster head answered" in none.stderr
    bad = cli("discover", "--scan", "10.0.0.0/8")
    assert bad.returncode == 1 and "a scan covers at most 4096" in bad.stderr


def test_test_connection_exit_codes(net_head: HeadNode) -> None:
    port = str(net_head.get_connection_info()["discovery_port"])
    good = cli("test-connection", net_head.scheduler_address, "--discovery-port", port)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "scheduler reachable  ok" in good.stdout and "dashboard reachable  ok" in good.stdout
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
        bad = cli("test-connection", address, "--timeout", "0.5", "--discovery-port", port)
    assert bad.returncode == 1 and "scheduler reachable  FAILED" in bad.stdout
    assert "did not answer" in bad.stderr


def test_ports_prints_a_head_command() -> None:
    done = cli("ports", "--start", "20000", "--json")
    ports = json.loads(done.stdout)
    assert set(ports) == {"scheduler_port", "dashboard_port", "discovery_port", "dask_dashboard_port"}
    text = cli("ports", "--start", "20000").stdout
    assert "pycluster head --scheduler-port" in text


def test_worker_needs_a_scheduler_or_discovery() -> None:
    neither = cli("worker")  # a usage error: exit code 2, saying what to give
    assert neither.returncode == 2 and "give the scheduler to join" in neither.stderr
    assert "--discover" in neither.stderr
    both = cli("worker", "--scheduler", "tcp://127.0.0.1:1", "--discover")
    assert both.returncode == 1 and "not both" in both.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = str(silent.getsockname()[1])
        alone = cli(
            "worker", "--discover", "--insecure", "--broadcast-address", "127.0.0.1",
            "--discovery-port", port, "--discover-timeout", "0.3",
        )  # fmt: skip
    assert alone.returncode == 1
    assert "no pycluster head answered the discovery probe" in alone.stderr and "--scheduler" in alone.stderr
