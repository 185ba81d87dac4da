"""GET /metrics through prometheus_client, Dask's own scheduler metrics, and the Grafana dashboard
that reads them: on a real head with 2 local workers and Dask's diagnostics server on a free port."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from distributed import Client
from prometheus_client.parser import text_string_to_metric_families

from pycluster import HeadNode
from pycluster.cluster.results import ClusterSummary, WorkerInfo
from pycluster.web.prometheus_gpu import gpu_metric_lines
from pycluster.web.routers.prometheus import ClusterCollector, ClusterReading
from tests.helpers import wait_for

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "pycluster.json"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    head = HeadNode(
        "metrics-test",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=0,
        state_dir=str(tmp_path_factory.mktemp("metrics-state")),
    )
    head.start(n_local_workers=2, threads_per_worker=1)
    try:
        with Client(head.scheduler_address, security=head.security) as client:
            assert client.gather(client.map(lambda x: x + 1, range(5))) == [1, 2, 3, 4, 5]
        yield head
    finally:
        head.shutdown()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, parsed by prometheus_client: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def names(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


def test_metrics_parse_and_match_the_cluster(node: HeadNode) -> None:
    response = httpx.get(f"{node.dashboard_url}/metrics", timeout=30)
    assert response.headers["content-type"].startswith("text/plain; version=")
    values = samples(response.text)
    assert values[("pycluster_up", frozenset())] == 1
    assert values[("pycluster_workers", frozenset())] == 2
    assert values[("pycluster_cores", frozenset())] == 2
    assert values[("pycluster_tasks_completed_total", frozenset())] >= 5
    workers = node.run_on_loop(node.snapshot())["workers"].values()
    limit = sum(int(w["memory_limit"]) for w in workers)
    assert values[("pycluster_memory_bytes", frozenset({("kind", "limit")}))] == limit  # every byte
    per_worker = [v for (name, _), v in values.items() if name == "pycluster_worker_memory_limit_bytes"]
    assert sorted(per_worker) == sorted(int(w["memory_limit"]) for w in workers)
    assert values[("pycluster_queue_depth", frozenset())] == 0
    assert all(name.startswith("pycluster_") for name in names(response.text))


def test_big_values_keep_every_digit() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    worker = WorkerInfo(
        name="w",
        address="tcp://127.0.0.1:1",
        host="127.0.0.1",
        status="running",
        nthreads=4,
        memory_limit=25_276_123_457,
        memory_used=1_234_567,
        cpu_percent=12.5,
        tasks_executing=0,
        tasks_ready=0,
        tasks_in_memory=0,
        resources={},
        nanny=None,
        last_seen=None,
    )
    reading = ClusterReading(
        running=True, summary=ClusterSummary((worker,)), tasks_completed=1_234_567_891, tasks_failed=0
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(reading))
    text = generate_latest(registry).decode()
    values = samples(text)
    assert values[("pycluster_memory_bytes", frozenset({("kind", "limit")}))] == 25_276_123_457
    assert values[("pycluster_tasks_completed_total", frozenset())] == 1_234_567_891
    assert "2.5276e+10" not in text and "1.23457e+09" not in text  # what "%g" printed


def test_dask_serves_its_own_scheduler_metrics(node: HeadNode) -> None:
    port = node._scheduler.http_server.port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    assert "not available" not in text
    workers = [v for (name, _), v in samples(text).items() if name == "dask_scheduler_workers"]
    assert sum(workers) == 2


def test_every_grafana_query_names_an_exported_metric(node: HeadNode) -> None:
    ours = names(httpx.get(f"{node.dashboard_url}/metrics", timeout=30).text)
    # GPU gauges appear only where a card reports them: the same collector, fed every reading
    ours |= names("\n".join(gpu_metric_lines(_full_gpu_view(), [])) + "\n")
    dask_port = node._scheduler.http_server.port
    dask = names(httpx.get(f"http://127.0.0.1:{dask_port}/metrics", timeout=30).text)
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    assert len(queries) >= 10
    used = {name for expr in queries for name in re.findall(r"\b(?:pycluster|dask)_[a-z0-9_]+", expr)}
    assert {n for n in used if n.startswith("pycluster_")} <= ours
    assert {n for n in used if n.startswith("dask_")} <= dask
    assert all(re.findall(r"\b(?:pycluster|dask)_[a-z0-9_]+", q) for q in queries)


def test_metrics_notice_a_new_worker(node: HeadNode) -> None:
    from distributed import Worker

    async def add_worker() -> Worker:
        return await Worker(node.scheduler_address, nthreads=1, security=node.security, name="extra")

    extra = node.run_on_loop(add_worker())
    try:
        url = f"{node.dashboard_url}/metrics"
        wait_for(
            lambda: samples(httpx.get(url, timeout=30).text)[("pycluster_workers", frozenset())] == 3, 10
        )
    finally:
        node.run_on_loop(extra.close())


def _full_gpu_view() -> dict[str, object]:
    gpu = {
        "host": "h",
        "id": 0,
        "uuid": "GPU-0",
        "name": "card",
        "utilization": 1,
        "memory_utilization": 1,
        "memory_used_bytes": 1,
        "memory_total_bytes": 1,
        "temperature": 1,
        "power_usage": 1,
        "power_limit": 1,
        "fan_speed": 1,
        "clocks": {"sm": 1, "memory": 1},
        "processes": [],
        "throttle_reasons": [],
        "ecc_errors": {"corrected": 0, "uncorrected": 0},
    }
    return {"hosts": [{"host": "h", "count": 1}], "gpus": [gpu]}
