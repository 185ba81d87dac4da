"""GPU-aware workers: one worker per GPU, pinned with CUDA_VISIBLE_DEVICES, advertising GPU=1.

This machine has no NVIDIA GPU, so the workers are started with an explicit device list and
``check_gpus=False`` (``--skip-gpu-check``): everything but CUDA itself runs for real, and
the tests read the environment each worker process actually has.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator

import pytest

from pycluster import ConfigError, GPUUnavailableError, HeadNode, WorkerNode
from pycluster.cluster.worker_options import WorkerOptions
from pycluster.gpu.nvml import nvml_status
from pycluster.gpu.pinning import plan_gpu_workers
from tests.helpers import cli, wait_for

ADDRESS = "tcp://127.0.0.1:8786"
NO_GPU = not nvml_status().available
needs_no_gpu = pytest.mark.skipif(not NO_GPU, reason="this machine has an NVIDIA GPU")
ALLOWED = "allowed: all, a number of GPUs such as 2, or GPU indices such as 0,1 (device=1 for one GPU)"


@pytest.mark.parametrize(
    ("gpus", "message"),
    [
        ("0,x", f"bad gpus '0,x': 'x' is not a GPU index; {ALLOWED}"),
        ("-1", f"bad gpus '-1': a number of GPUs must be >= 1, got -1; {ALLOWED}"),
        ("0,-2", f"bad gpus '0,-2': a GPU index must be >= 0, got -2; {ALLOWED}"),
        ("0", f"bad gpus '0': a number of GPUs must be >= 1, got 0; {ALLOWED}"),
        ("1,1", f"bad gpus '1,1': GPU 1 is listed twice; {ALLOWED}"),
        ("device=", f"bad gpus 'device=': no GPU index given; {ALLOWED}"),
        ("some", f"bad gpus 'some': 'some' is not a number of GPUs; {ALLOWED}"),
        (True, f"bad gpus True; {ALLOWED}"),
    ],
)
def test_bad_gpu_requests_name_what_is_allowed(gpus: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        WorkerOptions.create(ADDRESS, gpus=gpus, check_gpus=False)
    assert str(error.value) == message


def test_device_lists_split_into_pinned_sets_and_round_trip_through_the_command_line() -> None:
    options = WorkerOptions.create(ADDRESS, gpus="0,1,2,3", gpus_per_worker=2, check_gpus=False)
    assert options.n_workers == 2 and options.gpu_sets == ((0, 1), (2, 3))
    assert options.resources == {"GPU": 2.0}
    assert options.worker_env(1) == {"CUDA_VISIBLE_DEVICES": "2,3", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    argv = options.to_argv()
    assert argv[argv.index("--gpus") + 1] == "device=0,1,2,3" and "--skip-gpu-check" in argv
    assert (
        WorkerOptions.create(ADDRESS, gpus="device=0,1,2,3", gpus_per_worker=2, check_gpus=False) == options
    )
    assert WorkerOptions.create(ADDRESS, gpus=[3], check_gpus=False).gpu_sets == ((3,),)
    assert WorkerOptions.create(ADDRESS, n_workers=3).worker_env(0) is None  # CPU workers: no pinning


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gpus": "0,1,2", "gpus_per_worker": 2}, "3 GPUs (0, 1, 2) cannot be split into sets of 2"),
        ({"gpus": "0,1", "gpus_per_worker": 0}, "gpus_per_worker must be a whole number >= 1, got 0"),
        ({"gpus": "0,1", "n_workers": 3}, "n_workers=3 does not match gpus: its 2 GPU sets make 2 workers"),
        ({"gpus": "0,1", "resources": "GPU=2"}, "resources GPU=2 contradicts gpus: each worker gets 1 GPUs"),
        ({"gpus": "all"}, "gpus='all' needs NVML to count the GPUs; list their indices instead"),
    ],
)
def test_gpu_options_that_cannot_work_together(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WorkerOptions.create(ADDRESS, check_gpus=False, **kwargs)


@needs_no_gpu
@pytest.mark.parametrize("gpus", ["all", "2", "device=0", "0,1"])
def test_without_a_gpu_asking_for_one_says_none_was_found_and_why(gpus: str) -> None:
    with pytest.raises(GPUUnavailableError) as error:
        plan_gpu_workers(gpus)
    assert f"gpus={gpus!r}: no NVIDIA GPU found on this machine: NVIDIA driver not found" in str(error.value)
    assert error.value.reason.startswith("NVIDIA driver not found (NVML Shared Library Not Found)")
    node = WorkerNode(ADDRESS, timeout=1)
    with pytest.raises(GPUUnavailableError):
        node.start(gpus=gpus)  # fails before any process starts, whatever the scheduler
    assert node.get_status()["status"] == "stopped" and node.get_status()["log_file"] is None


@needs_no_gpu
def test_cli_gpu_errors_are_one_clear_line() -> None:
    cases = {
        ("--gpus", "all"): "error: gpus='all': no NVIDIA GPU found on this machine: NVIDIA driver not found",
        ("--gpus", "0,x"): f"error: bad gpus '0,x': 'x' is not a GPU index; {ALLOWED}",
        ("--gpus", "-1"): "error: bad gpus '-1': a number of GPUs must be >= 1, got -1",
        ("--gpus", "4", "--skip-gpu-check"): "error: gpus='4' needs NVML to count the GPUs",
    }
    for args, expected in cases.items():
        result = cli("worker", "--scheduler", "tcp://127.0.0.1:1", *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.startswith(expected), (args, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr


# ---------------------------------------------------------------- real workers, pinned
@pytest.fixture(scope="module")
def gpu_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HeadNode, WorkerNode]]:
    head = HeadNode(
        "gpu-workers",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=str(tmp_path_factory.mktemp("gpu-state")),
        services=(),
    )
    head.start(n_local_workers=1, threads_per_worker=2)  # a CPU worker beside the GPU workers
    node = WorkerNode(head.scheduler_address, worker_name="gpu")
    try:
        node.start(gpus=[0, 1], check_gpus=False, threads_per_worker=2)
        yield head, node
    finally:
        node.shutdown()
        head.shutdown()


def _hold_gpu(seconds: float) -> tuple[str | None, str | None, float, float]:
    start = time.monotonic()
    time.sleep(seconds)
    return (
        os.environ.get("CUDA_VISIBLE_DEVICES"),
        os.environ.get("CUDA_DEVICE_ORDER"),
        start,
        time.monotonic(),
    )


def test_each_gpu_worker_process_sees_only_its_gpu(gpu_cluster: tuple[HeadNode, WorkerNode]) -> None:
    head, _ = gpu_cluster
    client = head.cluster_manager.client
    info = client.scheduler_info(n_workers=-1)["workers"]
    seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    by_name = {
        info[address]["name"]: (device, info[address]["resources"]) for address, device in seen.items()
    }
    cpu_worker = next(name for name in by_name if not str(name).startswith("gpu-"))
    assert by_name.pop(cpu_worker) == (None, {})
    assert by_name == {"gpu-0": ("0", {"GPU": 1.0}), "gpu-1": ("1", {"GPU": 1.0})}


def test_gpu_tasks_land_on_gpu_workers_and_never_share_a_gpu(
    gpu_cluster: tuple[HeadNode, WorkerNode],
) -> None:
    head, _ = gpu_cluster
    manager = head.cluster_manager
    futures = [manager.submit_task(_hold_gpu, 0.3, resources={"GPU": 1}) for _ in range(6)]
    runs = manager.gather(futures, timeout=60)
    del futures
    assert {(device, order) for device, order, _, _ in runs} == {("0", "PCI_BUS_ID"), ("1", "PCI_BUS_ID")}
    for device in ("0", "1"):
        spans = sorted((start, end) for d, _, start, end in runs if d == device)
        # each worker has 2 threads but 1 GPU: its GPU tasks ran one after the other
        assert all(later[0] >= earlier[1] - 0.01 for earlier, later in itertools.pairwise(spans)), spans


def test_a_restarted_gpu_worker_is_pinned_again(gpu_cluster: tuple[HeadNode, WorkerNode]) -> None:
    head, _ = gpu_cluster
    client = head.cluster_manager.client

    def address_of(name: str) -> str | None:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        return next((a for a, w in workers.items() if w["name"] == name), None)

    old = address_of("gpu-1")
    old_pid = client.run(os.getpid, workers=[old])[old]
    client.restart_workers([old], timeout=60)  # the Nanny starts a fresh process
    new = wait_for(lambda: address_of("gpu-1"), 60, what="gpu-1 to come back")
    assert client.run(os.getpid, workers=[new])[new] != old_pid
    assert client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"), workers=[new]) == {new: "1"}
