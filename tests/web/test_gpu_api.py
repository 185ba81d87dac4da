"""GET /api/llm/gpu/*, GPU gauges in /metrics and ``pycluster gpu``, on a real head with 2 workers.

First as this machine really is (no NVIDIA driver: every surface says so and why); then with
the workers' GPU reporter replaying recorded NVML readings, so the same heartbeats, head
service, API, Prometheus text and CLI table carry GPUs.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import httpx
import pytest

from pycluster import HeadNode
from pycluster.gpu import RecordedReader
from pycluster.gpu.nvml import NVMLState, nvml_status
from pycluster.gpu.worker_plugin import PLUGIN_NAME, GPUReporter
from tests.gpu.readings import A100, RTX4090, reading
from tests.helpers import CliProcess, cli, wait_for

NO_DRIVER = nvml_status().state is NVMLState.DRIVER_MISSING


def reported_status(api: httpx.Client, available: bool) -> dict:
    """The status once both workers' reports reached the head (they come with heartbeats)."""

    def ready() -> dict | None:
        body = api.get("/api/llm/gpu/status").json()
        workers = body["summary"]["hosts"][0]["workers"] if body["summary"]["hosts"] else []
        reporting = len(workers) == 2 and all(w["reporting"] for w in workers)
        return body if body["summary"]["available"] is available and reporting else None

    return wait_for(ready, 30, 0.2, f"GPU status with available={available}")


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has an NVIDIA driver")
def test_without_gpus_every_surface_says_why(api_head: HeadNode, api: httpx.Client) -> None:
    body = reported_status(api, available=False)
    summary = body["summary"]
    assert summary["count"] == 0 and summary["gpus"] == []
    assert summary["reason"].startswith("127.0.0.1: NVIDIA driver not found (NVML Shared Library Not Found)")
    host = summary["hosts"][0]
    assert host["host"] == "127.0.0.1" and host["available"] is False and host["gpus"] == []
    assert body["recent_metrics"] == [] and body["alerts"] == []
    assert 'pycluster_gpus{host="127.0.0.1"} 0' in api.get("/metrics").text
    assert api.get("/api/llm/gpu/alerts").json()["active"] == []

    result = cli("gpu", api_head.scheduler_address, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["reason"] == summary["reason"]
    once = cli("gpu", api_head.scheduler_address, "--once")
    assert once.stdout.startswith("No NVIDIA GPU: 127.0.0.1: NVIDIA driver not found"), once.stdout
    local = cli("gpu")  # this machine: nothing will change, so it prints once and exits
    assert (
        local.returncode == 0
        and local.stdout.startswith("No NVIDIA GPU: ")
        and "driver not found" in local.stdout
    )


def test_bad_requests_get_4xx_with_a_reason(api: httpx.Client) -> None:
    reported_status(api, available=nvml_status().available)
    cases = [
        ("/api/llm/gpu/status?history=-1", 422, "greater than or equal to 0"),
        ("/api/llm/gpu/status?history=lots", 422, "valid integer"),
        ("/api/llm/gpu/status?host=nope", 404, "no worker runs on host 'nope'; hosts: 127.0.0.1"),
        ("/api/llm/gpu/history?host=127.0.0.1&gpu=7", 404, "host '127.0.0.1' has no GPU 7"),
        ("/api/llm/gpu/history?seconds=0", 422, "greater than 0"),
        ("/api/llm/gpu/alerts?limit=0", 422, "greater than or equal to 1"),
    ]
    for url, status, reason in cases:
        response = api.get(url)
        assert response.status_code == status, (url, response.text)
        assert reason in json.dumps(response.json()["detail"]), (url, response.text)
    # valid by the schema, so answered: GPU 0 of every machine (none here)
    every_machine = api.get("/api/llm/gpu/history?gpu=0")
    assert every_machine.status_code == 200, every_machine.text
    assert all(s["gpus"] == [] for s in every_machine.json()["samples"])


def test_cli_errors_are_one_line() -> None:
    unreachable = cli("gpu", "tcp://127.0.0.1:1", "--timeout", "0.5")
    assert unreachable.returncode == 1 and "did not answer within 0.5s" in unreachable.stderr
    bad = cli("gpu", "--interval", "0")
    assert bad.returncode == 2 and "Invalid value for '--interval'" in bad.stderr
    assert "Traceback" not in unreachable.stderr + bad.stderr


# ---------------------------------------------------------------- recorded GPUs, through the real cluster
HOT_A100 = reading(A100, temperature=90)


@pytest.fixture(scope="module")
def recorded_gpus(api_head: HeadNode) -> Iterator[None]:
    """Both workers replay an A100 at 90 C and an RTX 4090 instead of reading NVML."""
    client = api_head.cluster_manager.client
    client.register_plugin(GPUReporter(0.2, reader=RecordedReader([[HOT_A100, RTX4090]])), name=PLUGIN_NAME)
    yield
    client.register_plugin(GPUReporter(api_head.settings.monitoring.gpu_interval), name=PLUGIN_NAME)


def test_recorded_gpus_reach_the_api_grouped_by_host(api: httpx.Client, recorded_gpus: None) -> None:
    body = reported_status(api, available=True)
    summary = body["summary"]
    assert summary["count"] == 2 and summary["reason"] is None  # two workers, same machine: each GPU once
    a100 = summary["gpus"][0]
    assert {
        k: a100[k] for k in ("id", "name", "memory_total", "memory_used", "utilization", "power_usage")
    } == {
        "id": 0,
        "name": "NVIDIA A100-SXM4-40GB",
        "memory_total": 40.0,
        "memory_used": 18.0,
        "utilization": 87,
        "power_usage": 300.5,
    }
    assert a100["temperature"] == 90 and a100["host"] == "127.0.0.1"
    assert [h["host"] for h in summary["hosts"]] == ["127.0.0.1"] and summary["hosts"][0]["count"] == 2
    recent = wait_for(lambda: api.get("/api/llm/gpu/status?history=3").json()["recent_metrics"], 10, 0.2)
    assert recent[-1]["count"] == 2 and recent[-1]["max_temperature"] == 90 and len(recent) <= 3
    history = api.get("/api/llm/gpu/history", params={"host": "127.0.0.1", "gpu": 1}).json()
    assert history["samples"] and all([g["id"] for g in s["gpus"]] == [1] for s in history["samples"])


def test_recorded_hot_gpu_raises_one_alert_seen_in_api_and_prometheus(
    api: httpx.Client, recorded_gpus: None
) -> None:
    reported_status(api, available=True)
    alerts = wait_for(lambda: api.get("/api/llm/gpu/alerts?active=true").json()["active"], 10, 0.2)
    assert [(a["kind"], a["level"], a["gpu"], a["host"]) for a in alerts] == [
        ("temperature", "critical", 0, "127.0.0.1")
    ]
    assert api.get("/api/llm/gpu/status").json()["alerts"][0]["id"] == alerts[0]["id"]
    text = api.get("/metrics").text
    labels = f'gpu="0",host="127.0.0.1",name="NVIDIA A100-SXM4-40GB",uuid="{A100["uuid"]}"'
    assert f"pycluster_gpu_temperature_celsius{{{labels}}} 90.0" in text
    assert f"pycluster_gpu_memory_used_bytes{{{labels}}} 1.9327352832e+10" in text  # 18 GiB, every digit
    assert 'pycluster_gpus{host="127.0.0.1"} 2.0' in text
    assert 'pycluster_gpu_alerts{level="critical"} 1.0' in text


def test_pycluster_gpu_prints_a_live_table_of_the_cluster(api_head: HeadNode, recorded_gpus: None) -> None:
    once = cli("gpu", api_head.scheduler_address, "--once")
    assert once.returncode == 0, once.stderr
    lines = once.stdout.splitlines()
    assert lines[0].startswith("2 GPUs on 1 hosts") and lines[1].split()[:3] == ["HOST", "GPU", "NAME"]
    assert "NVIDIA A100-SXM4-40GB" in lines[2] and "90C" in lines[2]
    assert any(line.startswith("ALERT critical: GPU 0") for line in lines)
    live = CliProcess("gpu", api_head.scheduler_address, "--interval", "0.2")
    try:
        wait_for(lambda: live.output.count("HOST  ") >= 2, 30, 0.1, "two refreshes")
        live.proc.send_signal(signal.SIGTERM)
        assert live.proc.wait(15) == 0
    finally:
        live.stop()
