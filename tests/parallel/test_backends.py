"""DistributedCoordinator on every backend (a real loky pool, a real Dask head, a real Ray),
and what is particular to Ray. Each backend starts once for this module."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import traceback

import psutil
import pytest

from pycluster import DistributedCoordinator, SerializationError, TaskError
from pycluster.parallel.backends import Backend, BackendState
from pycluster.parallel.backends.ray_backend import RayBackend


class StockError(Exception):
    """Defined in the test module: workers must bring back this very type."""


def fail_on_multiples_of_seven(x: int) -> int:
    if x % 7 == 3:
        raise StockError(f"item {x} is out of stock")
    return x * 10


def test_lambdas_and_closures_keep_order(backend: Backend) -> None:
    offset = 1000  # captured by the closure below
    coordinator = DistributedCoordinator(backend)
    assert coordinator.map(lambda x: x**2, range(100)) == [x**2 for x in range(100)]
    assert coordinator.map(lambda x: x + offset, range(2000), chunksize=7) == [
        x + offset for x in range(2000)
    ]


def test_many_small_items_are_batched(backend: Backend) -> None:
    coordinator = DistributedCoordinator(backend)
    assert coordinator.map(lambda x: x * x, range(50_000)) == [x * x for x in range(50_000)]
    stats = coordinator.get_stats()
    assert stats["tasks_completed"] == 50_000
    assert stats["num_workers"] == 2
    assert stats["backend"] == backend.name
    assert stats["throughput"] > 0 and stats["avg_task_time"] > 0


def test_empty_input_and_generators(backend: Backend) -> None:
    coordinator = DistributedCoordinator(backend)
    assert coordinator.map(abs, []) == []
    assert coordinator.map(lambda x: -x, (x for x in range(300))) == [-x for x in range(300)]


def test_reduce_and_submit_batch_as_in_the_document(backend: Backend) -> None:
    coordinator = DistributedCoordinator(backend)
    total = coordinator.reduce(
        func=lambda x: x**2, items=[1, 2, 3, 4, 5], reducer=lambda a, b: a + b, initial=0
    )
    assert total == 55
    # the fold runs left to right, so a reducer that is not associative still works
    assert coordinator.reduce(str, range(12), lambda a, b: a + b) == "01234567891011"
    results = coordinator.submit_batch(
        func=lambda lr, epochs: lr["lr"] * epochs["epochs"],
        args_list=[
            ({"lr": 0.01}, {"epochs": 10}),
            ({"lr": 0.001}, {"epochs": 20}),
            ({"lr": 0.1}, {"epochs": 5}),
        ],
    )
    assert results == pytest.approx([0.1, 0.02, 0.5])


def test_error_keeps_type_names_item_and_keeps_other_results(backend: Backend) -> None:
    coordinator = DistributedCoordinator(backend)
    with pytest.raises(StockError, match="item 3 is out of stock") as caught:
        coordinator.map(fail_on_multiples_of_seven, range(100))
    exc = caught.value
    assert any("item 3 (3) of map()" in note for note in exc.__notes__)
    assert "fail_on_multiples_of_seven" in "".join(traceback.format_tb(exc.__traceback__))
    failure = exc.__cause__
    assert isinstance(failure, TaskError)
    assert failure.index == 3 and sorted(failure.errors) == list(range(3, 100, 7))
    assert failure.results[4] == 40 and failure.results[99] == 990  # the other items' work is kept
    assert isinstance(failure.results[10], StockError)
    assert coordinator.get_stats()["tasks_failed"] == len(failure.errors)


def test_return_exceptions_puts_errors_in_place(backend: Backend) -> None:
    results = DistributedCoordinator(backend).map(lambda x: 1 / x, [1, 0, 2], return_exceptions=True)
    assert results[0] == 1.0 and results[2] == 0.5
    assert isinstance(results[1], ZeroDivisionError)


def test_unpicklable_item_function_and_result_are_named(backend: Backend) -> None:
    coordinator = DistributedCoordinator(backend)
    lock = threading.Lock()
    with pytest.raises(SerializationError, match=r"item 2 \(<unlocked .*\) cannot be pickled .*_thread.lock"):
        coordinator.map(str, [1, 2, lock, 4])
    with pytest.raises(SerializationError, match=r"function .*lambda.* cannot be pickled"):
        coordinator.map(lambda x: lock, [1])
    with pytest.raises(SerializationError, match=r"result of this item .* cannot be pickled") as caught:
        coordinator.map(lambda x: threading.Lock() if x == 1 else x, [0, 1, 2])
    assert caught.value.__cause__.results[2] == 2


def test_strided_chunks_name_the_right_item(multiprocessing_backend: Backend) -> None:
    coordinator = DistributedCoordinator(multiprocessing_backend)
    items: list[object] = list(range(50_000))
    items[31_337] = threading.Lock()
    with pytest.raises(SerializationError, match=r"^item 31337 \("):
        coordinator.map(str, items)
    with pytest.raises(ZeroDivisionError) as caught:
        coordinator.map(lambda x: 1 / (x - 40_001), range(50_000))
    assert caught.value.__cause__.index == 40_001
    assert caught.value.__cause__.results[40_002] == 1.0


def test_progress_bar_when_verbose(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    assert DistributedCoordinator(backend, verbose=True).map(abs, range(-500, 0)) == list(range(500, 0, -1))
    err = capsys.readouterr().err
    # stderr is no terminal here: plain lines with rate and ETA, never a carriage return
    assert "\r" not in err and "map: 100% 500/500 [" in err.splitlines()[-1]
    assert "item/s" in err or "s/item" in err


# ---------------------------------------------------------------------- Ray specifics
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1"}


def test_local_ray_stays_on_loopback(ray_backend: Backend) -> None:
    # what `ss -tnp` shows, for the Ray processes this test process started
    DistributedCoordinator(ray_backend).map(abs, range(-10, 0))
    ray_processes = [
        p for p in psutil.Process().children(recursive=True) if p.name() in {"gcs_server", "raylet"}
    ]
    assert {p.name() for p in ray_processes} == {"gcs_server", "raylet"}
    sockets = [c for p in ray_processes for c in p.net_connections(kind="inet")]
    assert any(c.status == psutil.CONN_LISTEN for c in sockets), "Ray should be listening"
    off_loopback = [
        c for c in sockets if c.laddr.ip not in LOOPBACK or (c.raddr and c.raddr.ip not in LOOPBACK)
    ]
    assert off_loopback == []


def test_ray_backend_attaches_to_a_running_session_and_leaves_it_running(ray_backend: Backend) -> None:
    import ray

    attached = RayBackend().initialize()
    assert DistributedCoordinator(attached).map(lambda x: x + 1, [1, 2]) == [2, 3]
    attached.shutdown()
    assert attached.state is BackendState.CLOSED
    assert ray.is_initialized(), "shutting down an attached backend must not stop Ray"
    assert DistributedCoordinator(ray_backend).map(lambda x: x - 1, [1, 2]) == [0, 1]


@pytest.mark.slow
def test_local_ray_workers_import_modules_from_the_callers_import_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a module on sys.path only by the caller's doing (not the script's folder, not the
    # environment): functions from it travel by reference, so Ray's workers must import it
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "tripler.py").write_text("def triple(x):\n    return 3 * x\n")
    script = tmp_path / "app" / "main.py"
    script.parent.mkdir()
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'lib')!r})\n"
        "import tripler\n"
        "from pycluster import DistributedCoordinator\n"
        "from pycluster.parallel.backends.ray_backend import RayBackend\n"
        "with RayBackend(num_cpus=1) as backend:\n"
        "    print(DistributedCoordinator(backend).map(tripler.triple, range(4)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[0, 3, 6, 9]"
