"""The head's view of every worker's GPUs, its Prometheus lines and the CLI table, from recorded reports."""

from __future__ import annotations

import doctest
import importlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pycluster import Settings
from pycluster.gpu import GPUMonitor, RecordedReader
from pycluster.gpu.alerts import AlertTracker, GPUThresholds
from pycluster.monitor.gpu_cluster import NOT_REPORTING, cluster_gpu_view
from pycluster.monitor.gpu_table import format_gpu_table
from pycluster.web.prometheus_gpu import gpu_metric_lines
from tests.gpu.readings import A100, RTX4090, reading

OFF = {"available": False, "state": "driver_missing", "reason": "NVIDIA driver not found (x)", "gpus": []}


def report(gpus: list[dict], visible: str | None = None, hostname: str = "gpu-box") -> dict:
    """What a worker's heartbeat carries, made by a real GPUMonitor over recorded readings."""
    status = GPUMonitor(Settings(), reader=RecordedReader([gpus])).get_gpu_status()
    return {**status, "hostname": hostname, "visible_devices": visible}


def worker(host: str, name: str, gpus_report: dict | None, gpu_resource: float | None = None) -> dict:
    metrics = {"cpu": 1.0} if gpus_report is None else {"cpu": 1.0, "gpus": gpus_report}
    resources = {} if gpu_resource is None else {"GPU": gpu_resource}
    return {"host": host, "name": name, "metrics": metrics, "resources": resources}


def identity() -> dict:
    return {
        "workers": {
            # two pinned workers on one machine, each reporting only its own GPU
            "tcp://10.0.0.5:4001": worker("10.0.0.5", "box-0", report([A100], "0"), 1),
            "tcp://10.0.0.5:4002": worker("10.0.0.5", "box-1", report([RTX4090], "1"), 1),
            # an unpinned worker on the same machine reports both again
            "tcp://10.0.0.5:4003": worker("10.0.0.5", "box-cpu", report([A100, RTX4090])),
            "tcp://10.0.0.9:4001": worker("10.0.0.9", "laptop", OFF),
            "tcp://10.0.0.7:4001": worker("10.0.0.7", "plain-dask", None),
        }
    }


def test_gpus_are_grouped_by_host_once_each_with_the_workers_pinned_to_them() -> None:
    view = cluster_gpu_view(identity())
    assert view["available"] and view["count"] == 2 and view["reason"] is None
    assert [(g["host"], g["id"], g["workers"]) for g in view["gpus"]] == [
        ("10.0.0.5", 0, ["box-0"]),
        ("10.0.0.5", 1, ["box-1"]),
    ]
    hosts = {h["host"]: h for h in view["hosts"]}
    assert list(hosts) == ["10.0.0.5", "10.0.0.7", "10.0.0.9"]
    box = hosts["10.0.0.5"]
    assert box["available"] and box["count"] == 2 and box["hostname"] == "gpu-box"
    assert {w["name"]: w["visible_devices"] for w in box["workers"]} == {
        "box-0": "0",
        "box-1": "1",
        "box-cpu": None,
    }
    assert hosts["10.0.0.9"]["reason"] == "NVIDIA driver not found (x)" and hosts["10.0.0.9"]["gpus"] == []
    assert hosts["10.0.0.7"]["reason"] == NOT_REPORTING
    assert [w["reporting"] for w in hosts["10.0.0.7"]["workers"]] == [False]
    assert view["gpus"][0]["memory_total"] == 40.0 and view["gpus"][0]["hostname"] == "gpu-box"


def test_no_gpu_anywhere_says_why_per_host() -> None:
    view = cluster_gpu_view({"workers": {"tcp://10.0.0.9:1": worker("10.0.0.9", "laptop", OFF)}})
    assert not view["available"] and view["count"] == 0
    assert view["reason"] == "10.0.0.9: NVIDIA driver not found (x)"
    assert cluster_gpu_view({"workers": {}})["reason"] == "no workers are connected, so no GPU is known"


def test_prometheus_lines_have_per_gpu_gauges_with_labels() -> None:
    view = cluster_gpu_view(identity())
    tracker = AlertTracker(GPUThresholds(), log=False)
    tracker.update([{**view["gpus"][0], "temperature": 90}], now=0.0)
    text = "\n".join(gpu_metric_lines(view, tracker.active())) + "\n"
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    a100 = (
        ("gpu", "0"),
        ("host", "10.0.0.5"),
        ("name", "NVIDIA A100-SXM4-40GB"),
        ("uuid", "GPU-1c8d5d33-6f55-2e3c-9d1e-2a8b8f0c6a01"),
    )
    assert values[("pycluster_gpu_utilization_percent", a100)] == 87
    assert values[("pycluster_gpu_memory_total_bytes", a100)] == 40 * 2**30  # exact, not 4.29e+10
    assert values[("pycluster_gpu_power_watts", a100)] == 300.5
    assert values[("pycluster_gpu_ecc_corrected_errors_total", a100)] == 2
    assert values[("pycluster_gpu_throttled", a100)] == 1  # sw_power_cap
    assert ("pycluster_gpu_fan_speed_percent", a100) not in values  # the A100 has no fan reading
    assert any(
        name == "pycluster_gpu_fan_speed_percent" and labels[0] == ("gpu", "1") for name, labels in values
    )
    assert values[("pycluster_gpus", (("host", "10.0.0.9"),))] == 0
    assert values[("pycluster_gpus", (("host", "10.0.0.5"),))] == 2
    assert values[("pycluster_gpu_alerts", (("level", "critical"),))] == 1


def test_label_values_are_escaped() -> None:
    view = {
        "hosts": [],
        "gpus": [{"host": 'a"b\\c', "id": 0, "uuid": None, "name": "x\ny", "utilization": 1}],
    }
    assert (
        'pycluster_gpu_utilization_percent{gpu="0",host="a\\"b\\\\c",name="x\\ny",uuid=""} 1.0'
        in gpu_metric_lines(view, [])
    )


def test_table_shows_gpus_hosts_without_gpus_and_alerts() -> None:
    view = cluster_gpu_view(identity())
    hot = reading(A100, temperature=88)
    tracker = AlertTracker(GPUThresholds(), log=False)
    tracker.update([{**view["gpus"][0], "temperature": hot["temperature"]}], now=0.0)
    table = format_gpu_table(view, tracker.active()).splitlines()
    assert table[0] == "2 GPUs on 3 hosts  (driver recorded, CUDA ?)"
    assert table[1].split() == [
        "HOST",
        "GPU",
        "NAME",
        "UTIL",
        "MEMORY",
        "TEMP",
        "POWER",
        "FAN",
        "PROCS",
        "WORKERS",
    ]
    assert table[2].split()[:4] == ["gpu-box", "0", "NVIDIA", "A100-SXM4-40GB"]
    assert "18.0/40.0 GB (45%)" in table[2] and "72C" in table[2] and "300/400 W" in table[2]
    assert table[3].split()[-3:] == ["30%", "2", "box-1"]
    assert "10.0.0.9: no GPU (NVIDIA driver not found (x))" in table
    assert table[-1].startswith("ALERT critical: GPU 0 (NVIDIA A100-SXM4-40GB) on 10.0.0.5 is at 88 C")


@pytest.mark.parametrize(
    "module",
    [
        "pycluster.monitor.gpu_cluster",
        "pycluster.monitor.gpu_table",
        "pycluster.monitor.gpu_watch",
        "pycluster.web.prometheus_gpu",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_typed_view_cuts_to_one_host_and_answers_the_documented_dict() -> None:
    from pycluster.gpu.readings import history_sample
    from pycluster.monitor.gpu_cluster import GPUHostView, gpu_cluster_view, host_entry, summarize
    from pycluster.monitor.gpu_service import GPUStatusDocument

    view = gpu_cluster_view(identity())
    assert view.to_dict() == cluster_gpu_view(identity())
    box = view.only_host("10.0.0.5")
    assert box is not None and box.count == 2 and [h.host for h in box.hosts] == ["10.0.0.5"]
    laptop = view.only_host("10.0.0.9")
    assert laptop is not None and not laptop.available and laptop.reason == OFF["reason"]
    assert view.only_host("10.0.0.99") is None
    # a host entry survives the trip through its dict (what `pycluster gpu` on one machine does)
    assert [GPUHostView.from_dict(h.to_dict()) for h in view.hosts] == view.hosts
    single = summarize([host_entry("here", report([A100]))])
    assert single["count"] == 1 and single["hosts"][0]["gpus"][0]["host"] == "here"

    sample = history_sample(view.gpus, 1.0)
    document = GPUStatusDocument(view, [sample], [], None, 2.0)
    cut = document.only_host("10.0.0.9")
    assert cut is not None and cut.recent_metrics[0]["count"] == 0 and cut.summary.count == 0
    assert document.to_dict()["summary"]["count"] == 2
