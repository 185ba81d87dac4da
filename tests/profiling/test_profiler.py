"""ClusterProfiler against a real keyed (TLS) head with 2 local worker processes."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

from pycluster import ClusterManager, HeadNode
from pycluster.errors import ClusterError
from pycluster.profiling import ClusterProfiler, ProfileReport

KEY = secrets.token_urlsafe(32)


def sleepy_square(x: int) -> int:
    time.sleep(0.05)
    return x * x


def busy_sum(n: int) -> int:
    return sum(i * i for i in range(n))


@pytest.fixture(scope="module")
def keyed_head() -> Iterator[HeadNode]:
    node = HeadNode("profiled", scheduler_port=0, dask_dashboard_port=False, services=(), auth_key=KEY)
    info = node.start(n_local_workers=2, threads_per_worker=1)
    assert info["status"] == "success", info
    yield node
    node.shutdown()


def run_known_work(manager: ClusterManager) -> None:
    manager.gather([manager.submit_task(sleepy_square, i) for i in range(20)])
    manager.gather([manager.submit_task(busy_sum, 200_000 + i) for i in range(10)])


@pytest.fixture(scope="module")
def report(keyed_head: HeadNode) -> ProfileReport:
    profiler = ClusterProfiler(keyed_head.cluster_manager, interval=0.2)
    profiler.start()
    run_known_work(keyed_head.cluster_manager)
    time.sleep(0.5)  # a few more CPU/memory samples
    return profiler.stop()


def test_the_documents_example_runs_as_written(
    keyed_head: HeadNode, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycluster.profiling import ClusterProfiler

    profiler = ClusterProfiler()
    profiler.start()

    # Your cluster operations here
    run_known_work(keyed_head.cluster_manager)

    report = profiler.stop()
    print(report.summary())

    printed = capsys.readouterr().out
    assert keyed_head.scheduler_address in printed
    assert "30 tasks on 2 workers" in printed
    assert "sleepy_square  20" in printed
    assert "busy_sum       10" in printed


def test_tasks_are_counted_and_timed_per_function(report: ProfileReport) -> None:
    sleepy, busy = report.function("sleepy_square"), report.function("busy_sum")
    assert (sleepy.count, busy.count) == (20, 10)
    assert sleepy.errors == busy.errors == 0
    assert 0.045 <= sleepy.min_s <= sleepy.mean_s <= sleepy.max_s < 1.0
    assert sleepy.total_s == pytest.approx(20 * sleepy.mean_s)
    assert 0 < busy.mean_s < 2.0
    assert report.n_tasks == 30
    # two single-threaded workers: 20 x 50 ms cannot take less than half a second of wall time
    assert report.duration_s >= 0.5
    assert {t.worker for t in report.tasks} == {w.worker for w in report.workers}


def test_phases_and_scheduler_overhead_are_measured(report: ProfileReport) -> None:
    phases = report.phases
    assert phases.compute_s == pytest.approx(sum(f.total_s for f in report.functions))
    assert phases.compute_s >= 1.0
    assert phases.transfer_s >= 0 and phases.deserialize_s >= 0
    assert phases.scheduler_cpu_s is not None
    # scheduling 30 tasks costs the scheduler some CPU, but far less than the work itself
    assert 0 < phases.scheduler_cpu_s < phases.compute_s


def test_worker_cpu_and_memory_are_sampled_over_the_window(report: ProfileReport) -> None:
    assert len(report.workers) == 2
    for worker in report.workers:
        assert worker.samples >= 3
        assert 10 * 2**20 < worker.memory_mean <= worker.memory_max
        assert worker.memory_limit > 0
        assert 0 <= worker.cpu_mean <= worker.cpu_max
    assert all(report.started_at - 5 <= s.time <= report.stopped_at + 5 for s in report.samples)


def test_the_sampling_profile_finds_the_workers_own_code(report: ProfileReport) -> None:
    assert report.profile_samples > 0
    hot = {frame.function: frame for frame in report.hot_frames}
    # 20 x 50 ms of sleeping at ~10 ms a sample: most samples sit in sleepy_square itself
    assert hot["sleepy_square"].self_samples >= 30
    assert hot["sleepy_square"] == report.hot_frames[0]


def test_to_dict_is_json(report: ProfileReport) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n_tasks"] == 30
    assert {f["name"]: f["count"] for f in data["functions"]} == {"sleepy_square": 20, "busy_sum": 10}
    assert len(data["tasks"]) == 30
    assert data["phases"]["scheduler_cpu_s"] > 0


def test_save_html_writes_a_self_contained_page_with_charts(report: ProfileReport, tmp_path: Path) -> None:
    path = report.save_html(tmp_path / "profile.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "sleepy_square" in page and "busy_sum" in page
    assert page.count("<svg") >= 5
    assert page.count("<rect") >= 30  # one bar per task in the task stream, at least
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_a_head_or_a_client_can_be_profiled(keyed_head: HeadNode) -> None:
    client: Client = keyed_head.cluster_manager.client
    for target in (keyed_head, client):
        profiler = ClusterProfiler(target, code_profile=False).start()
        client.gather(client.map(sleepy_square, range(4)))
        report = profiler.stop()
        assert report.function("sleepy_square").count == 4
        assert report.hot_frames == [] and report.profile_samples == 0


def test_a_window_sees_only_its_own_tasks(keyed_head: HeadNode) -> None:
    manager = keyed_head.cluster_manager
    manager.submit_task(busy_sum, 10).result()  # before the window
    profiler = ClusterProfiler(manager, code_profile=False).start()
    report = profiler.stop()
    assert report.functions == [] and report.n_tasks == 0
    assert "No tasks ran in this window." in report.summary()


def test_starting_twice_and_stopping_unstarted_are_clear_errors(keyed_head: HeadNode) -> None:
    profiler = ClusterProfiler(keyed_head, code_profile=False)
    with pytest.raises(ClusterError, match="not running: call start"):
        profiler.stop()
    profiler.start()
    with pytest.raises(ClusterError, match="already running"):
        profiler.start()
    profiler.stop()
    with pytest.raises(ClusterError, match="not running"):
        profiler.stop()
    profiler.start()  # a stopped profiler starts a new window
    assert profiler.stop().n_tasks == 0


def test_bad_targets_and_intervals_are_refused() -> None:
    with pytest.raises(TypeError, match=r"ClusterManager, HeadNode, distributed\.Client or scheduler"):
        ClusterProfiler(42).start()
    with pytest.raises(ValueError, match="interval"):
        ClusterProfiler(interval=0)


def test_samples_are_distinct_readings(report: ProfileReport) -> None:
    readings = [(s.worker, s.time) for s in report.samples]
    assert len(readings) == len(set(readings))


def make_payload(n: int) -> bytes:
    return b"x" * n


def test_transfers_between_workers_are_measured(keyed_head: HeadNode) -> None:
    client: Client = keyed_head.cluster_manager.client
    first, second = sorted(client.scheduler_info(n_workers=-1)["workers"])
    profiler = ClusterProfiler(client, code_profile=False).start()
    payloads = [client.submit(make_payload, 8 * 2**20 + i, workers=[first], pure=False) for i in range(3)]
    sizes = [client.submit(len, p, workers=[second], pure=False) for p in payloads]
    assert client.gather(sizes) == [8 * 2**20 + i for i in range(3)]
    report = profiler.stop()
    assert report.function("make_payload").count == 3 and report.function("len").count == 3
    # Dask fetches several keys from one worker in one transfer: 1 to 3 of them for 3 keys
    assert 1 <= report.phases.transfers <= 3
    assert report.phases.transfer_s > 0
    assert f"({report.phases.transfers} transfers)" in report.summary()
