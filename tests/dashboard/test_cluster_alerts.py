"""Alert rules on metric samples: edge-triggered thresholds, workers lost, tasks failed."""

from __future__ import annotations

import pytest

from pycluster.monitor.cluster_alerts import ClusterAlerts


def sample(cpu: float = 10.0, memory: float = 10.0, workers: int = 2, failed: int = 0) -> dict:
    return {
        "cpu_percent": cpu,
        "memory_usage_percent": memory,
        "n_workers": workers,
        "tasks_failed_total": failed,
    }


def test_a_threshold_fires_once_and_resolves_once() -> None:
    alerts = ClusterAlerts({"cluster_cpu": 0.8})
    assert alerts.observe(sample(cpu=50)) == []
    fired = alerts.observe(sample(cpu=85))
    assert [(a["rule"], a["level"]) for a in fired] == [("cluster_cpu", "warning")]
    assert "85%" in fired[0]["message"] and "80%" in fired[0]["message"]
    assert alerts.observe(sample(cpu=95)) == []  # still above: no repeat
    assert alerts.active == {"cluster_cpu"}
    assert [a["level"] for a in alerts.observe(sample(cpu=20))] == ["resolved"]
    assert alerts.active == set()


def test_workers_leaving_and_tasks_failing_raise_alerts() -> None:
    alerts = ClusterAlerts()
    alerts.observe(sample(workers=3))
    lost = alerts.observe(sample(workers=2, failed=2))
    assert {a["rule"]: a["message"] for a in lost} == {
        "workers": "workers dropped from 3 to 2",
        "task_failures": "2 tasks failed",
    }
    assert alerts.as_dict()["recent"][0]["id"] > alerts.as_dict()["recent"][1]["id"]  # newest first


def test_thresholds_are_fractions_of_known_rules() -> None:
    alerts = ClusterAlerts({"cluster_memory": 0.5, "gpu_temperature": 80})  # other sections' keys ignored
    assert alerts.thresholds == {"cluster_cpu": 0.9, "cluster_memory": 0.5}
    with pytest.raises(ValueError, match="unknown alert rule 'disk'"):
        alerts.set_thresholds({"disk": 0.5})
    with pytest.raises(ValueError, match="at most 1"):
        alerts.set_thresholds({"cluster_cpu": 90})
    assert alerts.set_thresholds({"cluster_cpu": 0.7})["cluster_cpu"] == 0.7


def test_a_burst_of_failures_is_one_alert_with_a_count() -> None:
    alerts = ClusterAlerts(burst_gap=60)
    alerts.observe(sample())
    first = alerts.observe(sample(failed=3))
    assert [a["message"] for a in first] == ["3 tasks failed"]
    for total in (10, 40, 140):  # 137 more failures over three samples: no new alert
        assert alerts.observe(sample(failed=total)) == []
    failures = [a for a in alerts.as_dict()["recent"] if a["rule"] == "task_failures"]
    assert len(failures) == 1
    assert failures[0]["count"] == 140 and failures[0]["message"].startswith("140 tasks failed since ")


def test_failures_after_a_quiet_gap_open_a_new_alert() -> None:
    alerts = ClusterAlerts(burst_gap=0)  # every sample's failures are their own burst
    alerts.observe(sample())
    alerts.observe(sample(failed=1))
    assert [a["message"] for a in alerts.observe(sample(failed=3))] == ["2 tasks failed"]
    assert [a["count"] for a in alerts.as_dict()["recent"]] == [2, 1]
