"""GPU readings in NVML's raw units (bytes, milliwatts, MHz, bit masks), one list per poll.

There is no NVIDIA GPU on the machines these tests run on, so these were written by hand
after what ``nvidia-smi -q`` shows for the two kinds of card people put in clusters: a
data-centre A100 (ECC, no fan) and a GeForce RTX 4090 (a fan, no ECC). On a machine with
a GPU, ``pycluster.gpu.reader.record_readings("gpus.jsonl")`` records real ones in
the same shape (tests/gpu checks that round trip).
"""

from __future__ import annotations

from typing import Any

__all__ = ["A100", "RTX4090", "hot_then_cool", "reading"]

GiB = 2**30

A100: dict[str, Any] = {
    "index": 0,
    "name": "NVIDIA A100-SXM4-40GB",
    "uuid": "GPU-1c8d5d33-6f55-2e3c-9d1e-2a8b8f0c6a01",
    "pci_bus_id": "00000000:07:00.0",
    "memory_total": 40 * GiB,
    "memory_used": 18 * GiB,
    "memory_free": 22 * GiB,
    "utilization_gpu": 87,
    "utilization_memory": 45,
    "temperature": 72,
    "power_usage": 300_512,
    "power_limit": 400_000,
    "fan_speed": None,  # NVMLError_NotSupported: passively cooled
    "clock_sm": 1410,
    "clock_memory": 1215,
    "clock_graphics": 1410,
    "performance_state": 0,
    "throttle_reasons": 0x4,  # sw_power_cap
    "ecc_corrected": 2,
    "ecc_uncorrected": 0,
    "processes": [{"pid": 4242, "name": "python", "used_memory": 17 * GiB, "type": "compute"}],
}

RTX4090: dict[str, Any] = {
    "index": 1,
    "name": "NVIDIA GeForce RTX 4090",
    "uuid": "GPU-9f2e7a10-3b4c-4d5e-8f60-7a1b2c3d4e5f",
    "pci_bus_id": "00000000:41:00.0",
    "memory_total": 24 * GiB,
    "memory_used": 1 * GiB,
    "memory_free": 23 * GiB,
    "utilization_gpu": 3,
    "utilization_memory": 1,
    "temperature": 41,
    "power_usage": 31_250,
    "power_limit": 450_000,
    "fan_speed": 30,
    "clock_sm": 210,
    "clock_memory": 405,
    "clock_graphics": 210,
    "performance_state": 8,
    "throttle_reasons": 0x1,  # gpu_idle
    "ecc_corrected": None,  # NVMLError_NotSupported: GeForce cards have no ECC
    "ecc_uncorrected": None,
    "processes": [
        {"pid": 1300, "name": "Xorg", "used_memory": None, "type": "graphics"},
        {"pid": 4243, "name": "python", "used_memory": 512 * 2**20, "type": "compute+graphics"},
    ],
}


def reading(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def hot_then_cool() -> list[list[dict[str, Any]]]:
    """The A100 heats up past both temperature thresholds, hovers, then cools down."""
    temperatures = [72, 81, 86, 84, 83, 79, 76, 70]
    return [[reading(A100, temperature=t), RTX4090] for t in temperatures]
