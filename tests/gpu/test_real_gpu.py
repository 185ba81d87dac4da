"""Real NVIDIA GPUs: NVML readings against nvidia-smi and torch, and GPU-pinned workers.

Every test here needs a GPU and its driver; elsewhere each is skipped with a reason that
says what it would have checked. torch is optional: the tests that need it say so too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pycluster import GPUMonitor, HeadNode, Settings, WorkerNode
from pycluster.gpu import RecordedReader
from pycluster.gpu.nvml import nvml_status
from pycluster.gpu.reader import record_readings
from tests.helpers import wait_for

pytestmark = pytest.mark.gpu

STATUS = nvml_status()


def needs_gpu(what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not STATUS.available, reason=f"not run: {what} (no NVIDIA GPU here: {STATUS.reason})"
    )


def needs_torch_cuda(what: str) -> None:
    torch = pytest.importorskip("torch", reason=f"not run: {what} (torch is not installed)")
    if not torch.cuda.is_available():
        pytest.skip(f"not run: {what} (torch has no CUDA here)")


def nvidia_smi(*fields: str) -> list[list[str]]:
    if shutil.which("nvidia-smi") is None:
        pytest.skip(f"not run: comparing {', '.join(fields)} with nvidia-smi (nvidia-smi is not on PATH)")
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [[cell.strip() for cell in line.split(",")] for line in out.strip().splitlines()]


def gpus() -> list[dict[str, Any]]:
    return GPUMonitor(Settings()).get_gpu_status()["gpus"]


@needs_gpu("NVML memory.total, name and uuid of every GPU == nvidia-smi --query-gpu")
def test_memory_total_name_and_uuid_match_nvidia_smi() -> None:
    rows = nvidia_smi("index", "memory.total", "name", "uuid")
    ours = {g["id"]: g for g in gpus()}
    assert len(ours) == len(rows)
    for index, memory_mib, name, uuid in rows:
        gpu = ours[int(index)]
        assert gpu["memory_total_bytes"] // 2**20 == int(memory_mib)
        assert gpu["name"] == name and gpu["uuid"] == uuid


@needs_gpu("every field of every GPU is a value or None, and a full poll is cheap")
def test_every_field_is_a_value_or_none_and_a_poll_is_cheap() -> None:
    monitor = GPUMonitor(Settings())
    for gpu in monitor.get_gpu_status()["gpus"]:
        for field in ("memory_total", "memory_used", "utilization", "temperature"):
            assert isinstance(gpu[field], (int, float)), field  # every NVIDIA card has these
        assert gpu["power_usage"] is None or 0 <= gpu["power_usage"] <= 2000
        assert gpu["throttle_reasons"] is None or isinstance(gpu["throttle_reasons"], list)
        assert gpu["ecc_errors"] is None or set(gpu["ecc_errors"]) == {"corrected", "uncorrected"}
        json.dumps(gpu)
    start = time.perf_counter()
    for _ in range(20):
        monitor.poll()
    per_gpu = (time.perf_counter() - start) / 20 / max(1, STATUS.count)
    assert per_gpu < 0.05, f"{per_gpu * 1000:.1f} ms per GPU per poll"


WORKLOAD = """
import os, sys, time, torch
x = torch.empty(int(sys.argv[1]) * 2**20, dtype=torch.uint8, device="cuda")
print("ready", flush=True)
deadline = time.time() + float(sys.argv[2])
a = torch.randn(4096, 4096, device="cuda")
while time.time() < deadline:
    if sys.argv[3] == "matmul":
        (a @ a).sum().item()
    else:
        time.sleep(0.05)
"""


def workload(mib: int, seconds: float, kind: str) -> subprocess.Popen[str]:
    """torch on NVML's GPU 0 only, in its own process (it shows up in the GPU's process list)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD, str(mib), str(seconds), kind],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@needs_gpu("a torch allocation of 1 GiB raises memory_used of GPU 0 and lists the process")
def test_a_torch_allocation_raises_memory_used() -> None:
    needs_torch_cuda("a torch allocation raises memory_used")
    monitor = GPUMonitor(Settings())
    before = monitor.poll()[0]["memory_used_bytes"]
    proc = workload(1024, 30, "hold")
    try:
        after = wait_for(
            lambda: (g := monitor.poll()[0])["memory_used_bytes"] - before >= 2**30 and g, 20, 0.2
        )
        pids = [p["pid"] for p in after["processes"]]
        # in a container without the host's pid namespace NVML reports host pids (no name here)
        assert proc.pid in pids or all(p["name"] is None for p in after["processes"]), after["processes"]
    finally:
        proc.kill()
        proc.wait(10)


@needs_gpu("utilization of GPU 0 rises above 20% under a torch matmul loop")
def test_utilization_rises_under_a_matmul() -> None:
    needs_torch_cuda("utilization rises under a matmul")
    monitor = GPUMonitor(Settings())
    proc = workload(16, 15, "matmul")
    try:
        busy = wait_for(
            lambda: (u := monitor.poll()[0]["utilization"]) is not None and u >= 20 and u, 15, 0.2
        )
        assert busy >= 20
    finally:
        proc.kill()
        proc.wait(10)


@needs_gpu("readings recorded from the real GPUs replay through RecordedReader unchanged")
def test_recorded_readings_replay_like_the_card(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gpus.jsonl"
    assert record_readings(path, count=2, interval=0.1) == 2
    replayed = GPUMonitor(Settings(), reader=RecordedReader.from_jsonl(path)).get_gpu_status()["gpus"]
    live = gpus()
    keys = ("id", "name", "uuid", "memory_total", "power_limit")
    assert [{k: g[k] for k in keys} for g in replayed] == [{k: g[k] for k in keys} for g in live]


@pytest.fixture(scope="module")
def gpu_head() -> Iterator[tuple[HeadNode, WorkerNode]]:
    head = HeadNode(
        "real-gpus",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=tempfile.mkdtemp(),
    )
    head.start(n_local_workers=0)
    node = WorkerNode(head.scheduler_address, worker_name="gpu")
    try:
        node.start(gpus="all", threads_per_worker=1)
        yield head, node
    finally:
        node.shutdown()
        head.shutdown()


@needs_gpu("pycluster worker --gpus all: one worker per GPU, each seeing only its own GPU (uuid checked)")
def test_gpus_all_pins_one_worker_to_each_gpu(gpu_head: tuple[HeadNode, WorkerNode]) -> None:
    head, node = gpu_head
    assert node.get_status()["n_workers"] == STATUS.count
    client = head.cluster_manager.client
    seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    assert sorted(seen.values()) == sorted(str(i) for i in range(STATUS.count))
    try:
        import torch
    except ImportError:
        return  # the CUDA side of the pinning needs torch
    if not torch.cuda.is_available():
        return
    uuids = {str(g["id"]): g["uuid"] for g in gpus()}

    def cuda_uuid() -> tuple[int, str | None]:
        import torch

        uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)  # torch >= 2.1
        return torch.cuda.device_count(), None if uuid is None else f"GPU-{uuid}"

    for address, (count, uuid) in client.run(cuda_uuid).items():
        assert count == 1  # PCI order: the worker's CUDA device 0 is NVML's GPU of that index
        assert uuid is None or uuid == uuids[seen[address]]


@needs_gpu("GET /api/llm/gpu/status counts every GPU and names the worker pinned to each")
def test_api_reports_every_gpu_with_its_worker(gpu_head: tuple[HeadNode, WorkerNode]) -> None:
    head, _ = gpu_head
    with httpx.Client(base_url=head.dashboard_url or "", timeout=30) as api:
        summary = wait_for(
            lambda: (s := api.get("/api/llm/gpu/status").json()["summary"])["count"] == STATUS.count and s,
            30,
            0.2,
        )
        assert all(len(g["workers"]) == 1 and g["workers"][0].startswith("gpu") for g in summary["gpus"])
        assert wait_for(lambda: api.get("/api/llm/gpu/status").json()["recent_metrics"], 10, 0.2)
        assert "pycluster_gpu_memory_total_bytes{" in api.get("/metrics").text
