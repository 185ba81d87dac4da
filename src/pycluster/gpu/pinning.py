"""Which GPUs each worker process gets: ``--gpus all|N|0,1`` turned into pinned device sets.

``all`` takes every GPU of the machine, a single number ``N`` the first N (as docker's
``--gpus 2``), and a list of indices exactly those (``0,1``, or ``device=1`` for a single
one). The GPUs are split into sets of ``gpus_per_worker``; each worker process sees only
its set (``CUDA_VISIBLE_DEVICES``, numbered in PCI bus order, as NVML and nvidia-smi
number them) and advertises Dask resources ``{"GPU": gpus_per_worker}``, so a task
submitted with ``resources={"GPU": 1}`` never shares a GPU with another such task.

>>> parse_gpu_request("0,1").devices, parse_gpu_request("2").count, parse_gpu_request("all").all
((0, 1), 2, True)
>>> split_devices((0, 1, 2, 3), per_worker=2)
((0, 1), (2, 3))
>>> gpu_env((2, 3))["CUDA_VISIBLE_DEVICES"]
'2,3'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError, GPUUnavailableError
from .nvml import nvml_status

__all__ = ["GPURequest", "gpu_env", "parse_gpu_request", "plan_gpu_workers", "split_devices"]

ALLOWED = "all, a number of GPUs such as 2, or GPU indices such as 0,1 (device=1 for one GPU)"


@dataclass(frozen=True)
class GPURequest:
    text: str
    all: bool = False
    count: int | None = None
    devices: tuple[int, ...] = ()


def parse_gpu_request(value: object) -> GPURequest:
    """``all``, ``N``, ``0,1`` / ``device=1``, an int (a count) or a list of indices."""
    text = str(value)
    if isinstance(value, bool):
        raise ConfigError(f"bad gpus {value!r}; allowed: {ALLOWED}")
    if isinstance(value, int):
        return GPURequest(text, count=_whole(str(value), text, minimum=1))
    if isinstance(value, (list, tuple)):
        return GPURequest(text, devices=_devices([str(v) for v in value], text))
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"bad gpus {value!r}; allowed: {ALLOWED}")
    spec = value.strip().lower()
    if spec == "all":
        return GPURequest(text, all=True)
    if spec.startswith("device="):
        return GPURequest(text, devices=_devices(spec[len("device=") :].split(","), text))
    if "," in spec:
        return GPURequest(text, devices=_devices(spec.split(","), text))
    return GPURequest(text, count=_whole(spec, text, minimum=1))


def _devices(items: list[str], text: str) -> tuple[int, ...]:
    devices = tuple(_whole(item.strip(), text, minimum=0) for item in items if item.strip())
    if not devices:
        raise ConfigError(f"bad gpus {text!r}: no GPU index given; allowed: {ALLOWED}")
    duplicates = sorted({d for d in devices if devices.count(d) > 1})
    if duplicates:
        raise ConfigError(f"bad gpus {text!r}: GPU {duplicates[0]} is listed twice; allowed: {ALLOWED}")
    return devices


def _whole(item: str, text: str, minimum: int) -> int:
    what = "a GPU index" if minimum == 0 else "a number of GPUs"
    try:
        number = int(item)
    except ValueError:
        raise ConfigError(f"bad gpus {text!r}: {item!r} is not {what}; allowed: {ALLOWED}") from None
    if number < minimum:
        raise ConfigError(f"bad gpus {text!r}: {what} must be >= {minimum}, got {number}; allowed: {ALLOWED}")
    return number


def split_devices(devices: Sequence[int], per_worker: int) -> tuple[tuple[int, ...], ...]:
    """Consecutive sets of ``per_worker`` GPUs, one set per worker process."""
    if isinstance(per_worker, bool) or not isinstance(per_worker, int) or per_worker < 1:
        raise ConfigError(f"gpus_per_worker must be a whole number >= 1, got {per_worker!r}")
    if len(devices) % per_worker:
        raise ConfigError(
            f"{len(devices)} GPUs ({_listing(devices)}) cannot be split into sets of {per_worker}; "
            f"use a gpus_per_worker that divides {len(devices)}"
        )
    return tuple(tuple(devices[i : i + per_worker]) for i in range(0, len(devices), per_worker))


def gpu_env(devices: Sequence[int]) -> dict[str, str]:
    """The environment that pins a worker process to ``devices``."""
    # CUDA numbers GPUs fastest-first by default; PCI order matches NVML, nvidia-smi and --gpus
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in devices), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def plan_gpu_workers(gpus: object, per_worker: int = 1, check: bool = True) -> tuple[tuple[int, ...], ...]:
    """The GPU set of each worker process for ``gpus`` on this machine.

    ``check=False`` trusts an explicit list of indices without asking NVML (a container
    where NVML is hidden but CUDA works; tests on machines without GPUs).
    """
    request = parse_gpu_request(gpus)
    if not check:
        if not request.devices:
            raise ConfigError(
                f"gpus={request.text!r} needs NVML to count the GPUs; list their indices instead"
            )
        return split_devices(request.devices, per_worker)
    return split_devices(_resolve(request, _local_gpus(request)), per_worker)


def _local_gpus(request: GPURequest) -> tuple[int, ...]:
    status = nvml_status()
    if not status.available:
        raise GPUUnavailableError(
            f"gpus={request.text!r}: no NVIDIA GPU found on this machine: {status.reason}. "
            "Start CPU workers (leave out gpus), or fix the driver first",
            status.reason,
        )
    return tuple(range(status.count))


def _resolve(request: GPURequest, found: tuple[int, ...]) -> tuple[int, ...]:
    if request.all:
        return found
    if request.count is not None:
        if request.count > len(found):
            raise GPUUnavailableError(
                f"gpus={request.text!r}: asked for {request.count} GPUs but this machine has "
                f"{len(found)} ({_listing(found)})"
            )
        return found[: request.count]
    missing = [d for d in request.devices if d not in found]
    if missing:
        raise GPUUnavailableError(
            f"gpus={request.text!r}: GPU {missing[0]} not found; this machine has GPUs {_listing(found)}"
        )
    return request.devices


def _listing(devices: Sequence[int]) -> str:
    return ", ".join(str(d) for d in devices) or "none"
