"""Adaptive scaling of a head's local workers on Dask's ``Adaptive`` (issue 18 item 2)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from pycluster import HeadNode
from pycluster.cluster.adaptive import AdaptiveSettings, parse_adapt_range
from pycluster.errors import ClusterNotRunningError, ConfigError
from tests.helpers import CliProcess, api_client, cli, running_head, wait_for

FAST = {"interval": 0.2, "wait_count": 2, "target_duration": 1.0}


def _sleep(seconds: float) -> float:
    import time as t

    t.sleep(seconds)
    return seconds


def _square(x: int) -> int:
    import time as t

    t.sleep(4.0 if x == 0 else 0.05)  # one long task keeps the map running while others idle
    return x * x


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not within {timeout:g}s")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def small_head() -> Iterator[HeadNode]:
    """A head with 1 single-threaded local worker and no web services (faster to start)."""
    node = HeadNode("adaptive", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, services=())
    node.start(n_local_workers=1, threads_per_worker=1)
    yield node
    node.shutdown()


def _busy_workers(head: HeadNode) -> int:
    return sum(1 for ws in list(head.scheduler.workers.values()) if ws.processing)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("text", "fix"),
    [("5:2", "swap them (--adapt 2:5)"), ("-1:3", "MIN:MAX"), ("3", "MIN:MAX"), ("a:b", "e.g. 1:8")],
)
def test_bad_adapt_ranges_name_the_fix(text: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        AdaptiveSettings.create(*parse_adapt_range(text))


def test_a_maximum_over_the_machines_memory_is_refused() -> None:
    with pytest.raises(ConfigError, match="use a maximum of at most 4"):
        AdaptiveSettings.create(1, 10, worker_memory=2**30, total_memory=4 * 2**30)
    assert AdaptiveSettings.create(1, 4, worker_memory=2**30, total_memory=4 * 2**30).maximum == 4


def test_adapt_needs_a_running_head() -> None:
    with pytest.raises(ClusterNotRunningError, match="call start"):
        HeadNode("stopped", scheduler_port=0, services=()).adapt(1, 2)


def test_a_head_refuses_a_maximum_its_memory_cannot_hold(small_head: HeadNode) -> None:
    with pytest.raises(ConfigError, match="use a maximum of at most"):
        small_head.adapt(1, 100_000)
    assert small_head.adaptive.enabled is False


@pytest.mark.parametrize(
    ("adapt", "message"),
    [("5:2", "swap them (--adapt 2:5)"), ("1:100000", "use a maximum of at most"), ("-1:3", "e.g. 1:8")],
)
def test_pycluster_head_refuses_bad_adapt_ranges_before_starting(adapt: str, message: str) -> None:
    result = cli("head", f"--adapt={adapt}", "--scheduler-port", "0", "--dashboard-port", "0")
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_pycluster_head_adapt_keeps_the_minimum_up() -> None:
    head = CliProcess(
        "head", "--local-workers", "1", "--adapt", "2:3", "--threads-per-worker", "1",
        "--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off",
    )  # fmt: skip
    try:
        address = head.wait_for_line(r"scheduler:\s+(tls://\S+)").group(1)
        head.wait_for_line("adaptive scaling: 2 to 3 local workers")
        from pycluster import ClusterManager

        with ClusterManager.connect(address) as manager:
            wait_for(lambda: len(manager.client.nthreads()) == 2, 30)  # started with 2: the minimum
    finally:
        head.stop()


# ------------------------------------------------------------------ behaviour
@pytest.mark.slow
def test_a_backlog_brings_workers_up_and_idle_ones_leave(small_head: HeadNode) -> None:
    client = small_head.cluster_manager.client
    state = small_head.adapt(1, 3, **FAST)
    assert state.enabled and (state.minimum, state.maximum) == (1, 3)

    start = time.monotonic()
    futures = client.map(_sleep, [0.5] * 20, pure=False)
    up = _wait_for(lambda: _busy_workers(small_head) >= 3, 60, "3 workers busy")
    print(f"\nadaptive scale-up: backlog of 20 x 0.5 s tasks on 1 worker -> 3 workers busy in {up:.1f} s")
    assert len(small_head.local_workers.processes) == 3
    assert client.gather(futures) == [0.5] * 20
    elapsed = time.monotonic() - start

    down = _wait_for(lambda: len(small_head.local_workers.processes) == 1, 60, "back to 1 worker")
    print(f"adaptive: 20 tasks done in {elapsed:.1f} s; back to the minimum of 1 worker {down:.1f} s later")
    assert len(small_head.scheduler.workers) == 1


@pytest.mark.slow
def test_a_map_running_while_the_cluster_shrinks_loses_nothing(small_head: HeadNode) -> None:
    manager = small_head.cluster_manager
    manager.scale(3)
    small_head.adapt(1, 3, **FAST)
    futures = manager.client.map(_square, range(40), pure=False)
    shrank = _wait_for(lambda: len(small_head.local_workers.processes) < 3, 60, "a worker retired")
    # workers left while the map still ran; the results they held moved before they went
    assert not futures[0].done(), "the map ended before the cluster shrank: the test proves nothing"
    _wait_for(lambda: len(small_head.local_workers.processes) == 1, 60, "back to 1 worker")
    assert manager.client.gather(futures) == [x * x for x in range(40)]
    print(f"\nadaptive scale-down during a map: first worker retired after {shrank:.1f} s; 40 of 40 results")


@pytest.mark.slow
def test_adapt_none_turns_it_off_and_the_workers_stay(small_head: HeadNode) -> None:
    small_head.adapt(2, 3, **FAST)
    _wait_for(lambda: len(small_head.local_workers.processes) == 2, 60, "the minimum of 2")
    assert small_head.adapt(None).enabled is False
    time.sleep(1.0)  # 5 checks' time: nothing retires the idle worker above a minimum now
    assert len(small_head.local_workers.processes) == 2
    assert small_head.adaptive.enabled is False


@pytest.mark.slow
def test_jobs_waiting_in_the_queue_bring_workers_up() -> None:
    # Dask alone would not scale: each job is one 3 s task, under the 5 s target duration;
    # the jobs waiting for a core are what asks for more workers
    node = HeadNode("adaptive-jobs", scheduler_port=0, dask_dashboard_port=False, services=("jobs",))
    node.start(n_local_workers=1, threads_per_worker=1)
    try:
        node.adapt(1, 3, interval=0.2, wait_count=2)
        handles = [node.jobs.submit(_sleep, 3.0, max_cores=1) for _ in range(3)]
        up = _wait_for(lambda: len(node.scheduler.workers) == 3, 60, "3 workers for 3 waiting jobs")
        print(f"\nadaptive: 3 queued one-core jobs on 1 worker -> 3 workers in {up:.1f} s")
        assert [h.result(timeout=60) for h in handles] == [3.0] * 3
    finally:
        node.shutdown()


# ------------------------------------------------------------------ REST
@pytest.fixture(scope="module")
def api_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("adaptive-api", tmp_path_factory.mktemp("adaptive-api"), workers=1) as node:
        yield node


def test_autoscale_over_rest_turns_on_and_off_and_refuses_bad_bounds(api_head: HeadNode) -> None:
    with api_client(api_head) as api:
        on = api.post("/api/processing/cluster/autoscale", json={"minimum": 1, "maximum": 2})
        assert on.status_code == 200, on.text
        assert on.json()["adaptive"]["enabled"] is True and on.json()["adaptive"]["maximum"] == 2
        assert api_head.adaptive.enabled
        state = api.get("/api/processing/cluster/autoscale").json()
        assert (state["minimum"], state["maximum"]) == (1, 2)

        for bad, why in (
            ({"minimum": 5, "maximum": 2}, "swap them"),
            ({"minimum": 1, "maximum": 1024}, "use a maximum of at most"),
        ):
            refused = api.post("/api/processing/cluster/autoscale", json=bad)
            assert refused.status_code == 422 and why in refused.text, refused.text
        assert api.post("/api/processing/cluster/autoscale", json={"minimum": -1}).status_code == 422
        assert api_head.adaptive.maximum == 2  # a refused change leaves the running one alone

        off = api.post("/api/processing/cluster/autoscale", json={"enabled": False})
        assert off.status_code == 200 and off.json()["adaptive"]["enabled"] is False
        assert not api_head.adaptive.enabled


def test_recommendations_follow_the_queued_work(api_head: HeadNode) -> None:
    with api_client(api_head) as api:
        idle = api.get("/api/processing/cluster/recommendations")
        assert idle.status_code == 200, idle.text
        assert idle.json()["action"] == "none" and idle.json()["current_workers"] == 1

        # 12 tasks on 1 one-thread worker: Dask (0.5 s a task until it has measured one) wants 2 or more
        futures = api_head.cluster_manager.client.map(_sleep, [1.0] * 12, pure=False)
        try:
            wait_for(lambda: api_head.scheduler.queued, 10, what="tasks queued on the scheduler")
            advice = api.get("/api/processing/cluster/recommendations").json()
        finally:
            api_head.cluster_manager.client.cancel(futures)
        action, workers, reason = advice["action"], advice["workers"], advice["reason"]
        print(f"\nrecommendation under a backlog: {action} to {workers}: {reason}")
        assert advice["action"] == "scale_up" and advice["workers"] >= 2
        assert "tasks are queued" in advice["reason"]
        assert advice["signals"]["queued_tasks"] > 0
