"""The cluster's GPUs, grouped by host, from what workers report in their heartbeats.

Every worker's metrics carry a ``gpus`` report (see :mod:`pycluster.gpu.worker_plugin`).
Several workers of one machine report the same GPUs (or each its pinned ones): a GPU is
kept once per host, by uuid, with the names of the workers pinned to it.

>>> identity = {"workers": {"tcp://10.0.0.5:4000": {"host": "10.0.0.5", "name": "w0",
...     "metrics": {"gpus": {"available": False, "reason": "NVIDIA driver not found"}}}}}
>>> view = cluster_gpu_view(identity)
>>> view["available"], view["count"], view["reason"]
(False, 0, '10.0.0.5: NVIDIA driver not found')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "NOT_REPORTING",
    "GPUClusterView",
    "GPUHostView",
    "GPUHostWorker",
    "cluster_gpu_view",
    "gpu_cluster_view",
    "host_entry",
    "summarize",
]

NOT_REPORTING = "no GPU report from this worker yet (it reports with its next heartbeat)"

# A GPU entry stays the reading's dict (pycluster.gpu.readings documents its fields), with the
# ``host``, ``hostname`` and pinned ``workers`` added here.
GPUEntry = dict[str, Any]


@dataclass(frozen=True)
class GPUHostWorker:
    """A worker of a host, and what it says about its GPUs."""

    name: str
    address: str
    gpu_resources: float | None  # the worker's GPU resource, if it declares one
    visible_devices: str | None
    reporting: bool  # whether the worker sends GPU readings


@dataclass(frozen=True)
class GPUHostView:
    """One machine: its GPUs (once each, whichever workers report them) and its workers."""

    host: str
    hostname: str | None
    available: bool
    reason: str | None
    driver_version: str | None
    cuda_driver_version: Any  # a number or a string, as the driver reports it
    workers: list[GPUHostWorker]
    gpus: list[GPUEntry]
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> GPUHostView:
        workers = [GPUHostWorker(**w) for w in entry.get("workers") or []]
        gpus = list(entry.get("gpus") or [])
        fields = {k: entry.get(k) for k in ("hostname", "reason", "driver_version", "cuda_driver_version")}
        return cls(
            host=str(entry["host"]),
            available=bool(entry.get("available")),
            workers=workers,
            gpus=gpus,
            count=len(gpus),
            **fields,
        )


@dataclass(frozen=True)
class GPUClusterView:
    """The ``summary`` of the GPU document: every GPU flat (``gpus``) and per host."""

    available: bool
    count: int
    reason: str | None  # why there is no GPU, when there is none
    gpus: list[GPUEntry]
    hosts: list[GPUHostView]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def only_host(self, host: str) -> GPUClusterView | None:
        """The view of one host (None when no worker runs there)."""
        entry = next((h for h in self.hosts if h.host == host), None)
        if entry is None:
            return None
        return GPUClusterView(entry.available, entry.count, entry.reason, entry.gpus, [entry])


def gpu_cluster_view(identity: Mapping[str, Any]) -> GPUClusterView:
    """The cluster's GPUs from the scheduler's identity (its workers' heartbeat metrics)."""
    hosts: dict[str, _HostBuilder] = {}
    for address, info in (identity.get("workers") or {}).items():
        host = str(info.get("host") or address)
        hosts.setdefault(host, _HostBuilder(host)).add_worker(address, info)
    return _summary([b.finish() for _, b in sorted(hosts.items())])


def cluster_gpu_view(identity: Mapping[str, Any]) -> dict[str, Any]:
    """``{"available", "count", "reason", "gpus": [flat, with host], "hosts": [per host]}``."""
    return gpu_cluster_view(identity).to_dict()


def host_entry(host: str, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A per-host entry, empty or made from a single report (``pycluster gpu`` on this machine)."""
    builder = _HostBuilder(host)
    if report is not None:
        builder.merge(report, worker=None)
    return builder.finish().to_dict()


def summarize(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The document's ``summary`` from per-host entries (as ``host_entry`` makes them)."""
    return _summary([GPUHostView.from_dict(e) for e in entries]).to_dict()


def _summary(hosts: list[GPUHostView]) -> GPUClusterView:
    gpus = [g for h in hosts for g in h.gpus]
    available = bool(gpus)
    return GPUClusterView(available, len(gpus), None if available else _reason(hosts), gpus, hosts)


class _HostBuilder:
    """Collects one host's worker reports; ``finish`` makes its :class:`GPUHostView`."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.hostname: str | None = None
        self.available = False
        self.reason: str | None = None
        self.driver_version: str | None = None
        self.cuda_driver_version: Any = None
        self.workers: list[GPUHostWorker] = []
        self.gpus: dict[Any, GPUEntry] = {}

    def add_worker(self, address: str, info: Mapping[str, Any]) -> None:
        report = (info.get("metrics") or {}).get("gpus")
        name = str(info.get("name", address))
        reporting = isinstance(report, Mapping)
        self.workers.append(
            GPUHostWorker(
                name=name,
                address=address,
                gpu_resources=(info.get("resources") or {}).get("GPU"),
                visible_devices=report.get("visible_devices") if isinstance(report, Mapping) else None,
                reporting=reporting,
            )
        )
        if not isinstance(report, Mapping):
            self.reason = self.reason or NOT_REPORTING
            return
        self.merge(report, worker=name)

    def merge(self, report: Mapping[str, Any], worker: str | None) -> None:
        self.hostname = self.hostname or report.get("hostname")
        if not report.get("available"):
            # a GPU-less worker says why (better than "no report yet"); the first reason wins
            if not self.available and self.reason in (None, NOT_REPORTING):
                self.reason = report.get("reason") or self.reason
            return
        self.available = True
        self.reason = None
        self.driver_version = report.get("driver_version")
        self.cuda_driver_version = report.get("cuda_driver_version")
        for gpu in report.get("gpus") or []:
            key = gpu.get("uuid") or gpu.get("id")
            known = self.gpus.setdefault(key, {**gpu, "host": self.host, "workers": []})
            known.update({k: v for k, v in gpu.items() if k != "workers"})
            if (
                worker is not None
                and _pinned(report.get("visible_devices"))
                and worker not in known["workers"]
            ):
                known["workers"].append(worker)

    def finish(self) -> GPUHostView:
        gpus = sorted(self.gpus.values(), key=lambda g: (g.get("id") is None, g.get("id")))
        for gpu in gpus:
            gpu["hostname"] = self.hostname
        return GPUHostView(
            host=self.host,
            hostname=self.hostname,
            available=self.available,
            reason=self.reason,
            driver_version=self.driver_version,
            cuda_driver_version=self.cuda_driver_version,
            workers=list(self.workers),
            gpus=gpus,
            count=len(gpus),
        )


def _pinned(visible: Any) -> bool:
    return bool(visible and str(visible).strip())


def _reason(hosts: list[GPUHostView]) -> str:
    if not hosts:
        return "no workers are connected, so no GPU is known"
    reasons = [f"{h.host}: {h.reason or 'no GPU found'}" for h in hosts]
    return "; ".join(dict.fromkeys(reasons))
