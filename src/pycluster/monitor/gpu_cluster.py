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
from typing import Any

__all__ = ["NOT_REPORTING", "cluster_gpu_view", "host_entry"]

NOT_REPORTING = "no GPU report from this worker yet (it reports with its next heartbeat)"


def cluster_gpu_view(identity: Mapping[str, Any]) -> dict[str, Any]:
    """``{"available", "count", "reason", "gpus": [flat, with host], "hosts": [per host]}``."""
    hosts: dict[str, dict[str, Any]] = {}
    for address, info in (identity.get("workers") or {}).items():
        host = str(info.get("host") or address)
        entry = hosts.setdefault(host, host_entry(host))
        _add_worker(entry, address, info)
    entries = [_finish(e) for e in sorted(hosts.values(), key=lambda e: e["host"])]
    return summarize(entries)


def host_entry(host: str, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An empty per-host entry, or one made from a single report (``pycluster gpu`` on this machine)."""
    entry: dict[str, Any] = {
        "host": host,
        "hostname": None,
        "available": False,
        "reason": None,
        "driver_version": None,
        "cuda_driver_version": None,
        "workers": [],
        "_gpus": {},
    }
    if report is not None:
        _merge(entry, report, worker=None)
    return entry


def summarize(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The document's ``summary`` from finished host entries."""
    entries = [_finish(e) if "_gpus" in e else e for e in entries]
    gpus = [g for e in entries for g in e["gpus"]]
    available = bool(gpus)
    return {
        "available": available,
        "count": len(gpus),
        "reason": None if available else _reason(entries),
        "gpus": gpus,
        "hosts": entries,
    }


def _add_worker(entry: dict[str, Any], address: str, info: Mapping[str, Any]) -> None:
    report = (info.get("metrics") or {}).get("gpus")
    name = str(info.get("name", address))
    entry["workers"].append(
        {
            "name": name,
            "address": address,
            "gpu_resources": (info.get("resources") or {}).get("GPU"),
            "visible_devices": report.get("visible_devices") if isinstance(report, Mapping) else None,
            "reporting": isinstance(report, Mapping),
        }
    )
    if not isinstance(report, Mapping):
        entry["reason"] = entry["reason"] or NOT_REPORTING
        return
    _merge(entry, report, worker=name)


def _merge(entry: dict[str, Any], report: Mapping[str, Any], worker: str | None) -> None:
    entry["hostname"] = entry["hostname"] or report.get("hostname")
    if not report.get("available"):
        # a GPU-less worker says why (better than "no report yet"); the first reason wins
        if not entry["available"] and entry["reason"] in (None, NOT_REPORTING):
            entry["reason"] = report.get("reason") or entry["reason"]
        return
    entry["available"] = True
    entry["reason"] = None
    entry["driver_version"] = report.get("driver_version")
    entry["cuda_driver_version"] = report.get("cuda_driver_version")
    for gpu in report.get("gpus") or []:
        key = gpu.get("uuid") or gpu.get("id")
        known = entry["_gpus"].setdefault(key, {**gpu, "host": entry["host"], "workers": []})
        known.update({k: v for k, v in gpu.items() if k != "workers"})
        if worker is not None and _pinned(report.get("visible_devices")) and worker not in known["workers"]:
            known["workers"].append(worker)


def _pinned(visible: Any) -> bool:
    return bool(visible and str(visible).strip())


def _finish(entry: dict[str, Any]) -> dict[str, Any]:
    done = {k: v for k, v in entry.items() if k != "_gpus"}
    gpus = sorted(entry.get("_gpus", {}).values(), key=lambda g: (g.get("id") is None, g.get("id")))
    for gpu in gpus:
        gpu["hostname"] = entry["hostname"]
    done["gpus"] = gpus
    done["count"] = len(gpus)
    return done


def _reason(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no workers are connected, so no GPU is known"
    reasons = [f"{e['host']}: {e['reason'] or 'no GPU found'}" for e in entries]
    return "; ".join(dict.fromkeys(reasons))
