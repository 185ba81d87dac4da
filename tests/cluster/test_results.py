"""The typed status results give the product documents' dict keys."""

from __future__ import annotations

from pycluster.cluster.results import ClusterStatus, ClusterSummary, ConnectionInfo
from pycluster.jobs.queue_status import QueueStatus, ResourceUsage

IDENTITY = {
    "workers": {
        "tcp://127.0.0.1:4001": {
            "name": "b",
            "host": "127.0.0.1",
            "status": "running",
            "nthreads": 2,
            "memory_limit": 1000,
            "metrics": {"memory": 250, "cpu": 12.5, "task_counts": {"executing": 1, "ready": 2}},
            "resources": {"GPU": 1},
        },
        "tcp://127.0.0.1:4000": {"name": "a", "nthreads": 1, "memory_limit": 0, "metrics": {}},
    }
}
CONNECTION = ConnectionInfo(
    "demo",
    "tcp://127.0.0.1:8786",
    "http://127.0.0.1:8787",
    None,
    "pycluster worker",
    False,
    "127.0.0.1",
    None,
)


def test_summary_totals_and_workers_sorted_by_name() -> None:
    summary = ClusterSummary.from_identity(IDENTITY).to_dict()
    assert [w["name"] for w in summary["workers"]] == ["a", "b"]
    assert summary["total_cores"] == 3 and summary["active_tasks"] == 1 and summary["ready_tasks"] == 2
    assert summary["memory_usage_percent"] == 25.0 and summary["resources"] == {"GPU": 1.0}
    assert summary["workers"][0]["memory_usage"] is None and summary["workers"][1]["memory_usage"] == 25.0


def test_running_status_has_connection_and_totals() -> None:
    status = ClusterStatus.running(CONNECTION, 12.345, IDENTITY).to_dict()
    assert status["status"] == "running" and status["uptime_seconds"] == 12.3
    assert status["api_docs_url"] == "http://127.0.0.1:8787/docs"
    assert status["dashboard_address"] == status["dashboard_url"] and status["n_workers"] == 2


def test_stopped_status() -> None:
    status = ClusterStatus.stopped("demo").to_dict()
    assert status == {
        "cluster_name": "demo",
        "status": "stopped",
        "n_workers": 0,
        "total_cores": 0,
        "active_tasks": 0,
        "workers": [],
    }


def test_queue_status_counts_pending_as_queued() -> None:
    resources = ResourceUsage(total_memory_gb=4.0, used_memory_gb=1.0, total_cores=2.0, reserved_cores=0.5)
    status = QueueStatus(True, {"pending": 1, "queued": 2}, {"HIGH": 3}, 4, resources).to_dict()
    assert status["queue_status"]["total_queued"] == 3 and status["queue_status"]["total_failed"] == 0
    cluster = status["resource_usage"]["cluster_resources"]
    assert cluster["available_cores"] == 1.5 and cluster["memory_usage_percent"] == 25.0
