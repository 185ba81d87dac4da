"""Choosing, starting and stopping backends: each stops what it started and nothing it attached to."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from types import ModuleType

import psutil
import pytest
from tests.helpers import all_gone, descendants, wait_for

from pycluster import (
    BackendType,
    ClusterNotRunningError,
    ConfigError,
    DistributedCoordinator,
    MissingDependencyError,
    WorkerStartError,
    get_backend,
    set_backend,
)
from pycluster.parallel.backends import BackendState, registry
from pycluster.parallel.backends.dask_backend import DaskBackend
from pycluster.parallel.backends.local import MultiprocessingBackend


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """No current backend during the test; whatever the test made current is shut down after."""
    monkeypatch.setattr(registry, "_current", None)
    yield registry
    if registry._current is not None:
        registry._current.shutdown()


def worker_pids(coordinator: DistributedCoordinator) -> set[int]:
    return set(coordinator.map(lambda _: os.getpid(), range(8), chunksize=1))


def gone(pids: set[int]) -> bool:
    return not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids
    )


def test_set_backend_replaces_and_stops_the_previous_one(clean_registry: ModuleType) -> None:
    first = set_backend(BackendType.MULTIPROCESSING, num_workers=1)
    assert get_backend() is first and first.state is BackendState.RUNNING
    first_pids = worker_pids(DistributedCoordinator())
    second = set_backend("multiprocessing", num_workers=1)
    assert get_backend() is second and first.state is BackendState.CLOSED
    wait_for(lambda: gone(first_pids), timeout=20, what="the replaced pool's processes to end")
    assert worker_pids(DistributedCoordinator()).isdisjoint(first_pids)


def test_default_backend_is_multiprocessing_on_every_core(clean_registry: ModuleType) -> None:
    from loky import cpu_count

    backend = get_backend()
    assert backend.name == "multiprocessing" and backend.state is BackendState.NEW  # started on first use
    assert DistributedCoordinator().map(lambda x: -x, [1, 2]) == [-1, -2]
    assert backend.num_workers() == cpu_count()


def test_context_manager_stops_the_pool_and_a_closed_backend_says_so() -> None:
    with MultiprocessingBackend(num_workers=1) as backend:
        pids = worker_pids(DistributedCoordinator(backend))
    assert backend.state is BackendState.CLOSED
    wait_for(lambda: gone(pids), timeout=20, what="the pool's processes to end")
    with pytest.raises(ClusterNotRunningError, match="multiprocessing backend was shut down"):
        DistributedCoordinator(backend).map(abs, [1])
    backend.initialize()  # on purpose, a closed backend starts again
    assert DistributedCoordinator(backend).map(abs, [-1]) == [1]
    backend.shutdown()


def test_coordinator_stops_a_backend_it_started() -> None:
    with DistributedCoordinator(BackendType.MULTIPROCESSING) as coordinator:
        pids = worker_pids(coordinator)
    assert coordinator.backend.state is BackendState.CLOSED
    wait_for(lambda: gone(pids), timeout=20, what="the coordinator's pool to end")


def test_missing_ray_names_the_extra_and_changes_nothing(
    clean_registry: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = set_backend(BackendType.MULTIPROCESSING, initialize=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when ray is not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "pycluster\[ray\]"') as caught:
        set_backend(BackendType.RAY, num_cpus=1)
    assert isinstance(caught.value, ImportError) and caught.value.extra == "ray"
    assert get_backend() is current


def test_dask_backend_attached_to_a_head_leaves_it_running() -> None:
    with DaskBackend(n_workers=1) as owner:
        assert owner.address and owner.address.startswith("tls://127.0.0.1:")
        owner.client  # noqa: B018  # waits for its worker to join: its process is known then
        family = [psutil.Process(p.pid) for p in owner.cluster_manager.local_worker_processes]
        family += [d for p in family for d in descendants(p.pid)]
        with DaskBackend(address=owner.address) as attached:
            assert DistributedCoordinator(attached).map(lambda x: x * 2, range(100)) == list(range(0, 200, 2))
        assert attached.state is BackendState.CLOSED
        assert DistributedCoordinator(owner).map(lambda x: x + 1, [1]) == [2]  # still up
    wait_for(lambda: all_gone(family), timeout=30, what="the local head's worker processes to end")


def test_dask_backend_attaches_to_a_plain_dask_scheduler() -> None:
    from distributed import Client, LocalCluster

    # in-process workers (quick to start) behind a real TCP scheduler on loopback
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        host="127.0.0.1",
        scheduler_port=0,
        protocol="tcp",
        dashboard_address=None,
        processes=False,
    ) as cluster:
        with DaskBackend(address=cluster.scheduler_address) as backend:
            assert backend.num_workers() == 1
            assert DistributedCoordinator(backend).map(lambda x: x**2, range(300)) == [
                x**2 for x in range(300)
            ]
        with Client(cluster.scheduler_address, timeout=10) as client:  # the cluster outlived the backend
            assert client.submit(abs, -3).result(timeout=10) == 3


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: set_backend("spark"), "unknown backend 'spark'; allowed: multiprocessing, dask, ray"),
        (lambda: DaskBackend(address="tcp://127.0.0.1:8786", n_workers=2), "not both"),
        (lambda: MultiprocessingBackend(num_workers=0), "num_workers must be a whole number"),
        (lambda: DistributedCoordinator(BackendType.MULTIPROCESSING).map(abs, [1], chunksize=0), "chunksize"),
    ],
)
def test_bad_arguments_raise_config_error(build: object, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        build()  # type: ignore[operator]


def _dask_settings(dask_worker: object) -> tuple[object, object, bool]:
    import dask

    callbacks = getattr(dask_worker, "periodic_callbacks", {})
    return (
        dask.config.get("distributed.worker.profile.enabled"),
        dask.config.get("distributed.admin.tick.interval"),
        "profile" in callbacks,
    )


def test_dask_local_workers_run_lean_and_leave_no_process_behind() -> None:
    import dask

    before = {p.pid for p in descendants(os.getpid())}
    with DaskBackend(n_workers=2) as backend:
        # no profiler samples the task threads (the client waits for the workers to join)
        lean = (False, "500ms", False)
        assert set(backend.client.run(_dask_settings).values()) == {lean}
        family = [p for p in descendants(os.getpid()) if p.pid not in before]
        assert len(family) >= 2  # a worker process each (no Nanny: the head supervises them)
        assert DistributedCoordinator(backend).map(lambda x: x + 1, range(20)) == list(range(1, 21))
    # the caller's own Dask settings are untouched
    assert dask.config.get("distributed.worker.profile.enabled") is True
    wait_for(lambda: all_gone(family), timeout=30, what="every process of the local cluster to end")


def test_dask_backend_takes_work_before_its_workers_joined() -> None:
    with DaskBackend(n_workers=2) as backend:
        # the head is up and the workers are on their way: their count is known already
        assert backend.num_workers() == 2
        assert DistributedCoordinator(backend).map(abs, range(-50, 0)) == list(range(50, 0, -1))
        assert len(backend.client.nthreads()) == 2


def test_a_dask_worker_that_cannot_start_is_raised_by_the_first_map(monkeypatch: pytest.MonkeyPatch) -> None:
    # read by the worker processes only (this process read its Dask settings at import)
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__MEMORY__TARGET", "'not a fraction'")
    with DaskBackend(n_workers=1) as backend:
        for _ in range(2):  # and by every call after it, not only the first
            with pytest.raises(WorkerStartError, match="before joining"):
                DistributedCoordinator(backend).map(abs, [-1, -2])
    assert backend.state is BackendState.CLOSED


def _task_count(dask_scheduler: object) -> int:
    return len(dask_scheduler.tasks)  # type: ignore[attr-defined]


def test_dask_answers_leave_the_workers_soon_after_a_map(dask_backend: DaskBackend) -> None:
    coordinator = DistributedCoordinator(dask_backend)
    assert coordinator.map(lambda x: x * 3, range(50)) == [x * 3 for x in range(50)]
    # released a little after the call (off the next call's path), but released
    wait_for(
        lambda: dask_backend.client.run_on_scheduler(_task_count) == 0,
        timeout=10,
        what="the scheduler to forget the map's tasks",
    )


def test_dask_backend_cluster_leaves_the_users_state_and_head_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A running head owns the state directory (its jobs, its models): the Dask backend's own
    compute-only cluster starts beside it and runs none of those services."""
    from pycluster import HeadNode

    user_head = HeadNode("users-head", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False)
    user_head.start(n_local_workers=0)
    try:
        with DaskBackend(n_workers=1) as backend:
            assert backend.head is not None and backend.head.services == {}
            assert backend.head.state_dir == user_head.state_dir  # same folder, untouched
            assert DistributedCoordinator(backend).map(lambda x: x + 1, [1, 2]) == [2, 3]
        assert user_head.is_running
    finally:
        user_head.shutdown()
