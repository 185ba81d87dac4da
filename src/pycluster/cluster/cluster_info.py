"""``cluster_info_<name>.txt``: a running head's connection information, as the documents show it.

The PyCluster documents list ``cluster_info_*.txt`` ("cluster connection information
files") in the config folder beside the saved configs and startup scripts
(``%APPDATA%\\PyCluster`` on Windows; see :func:`pycluster.user_dirs.config_dir`). A head
writes ``cluster_info_<cluster name>.txt`` there once it runs and removes it when it stops.
It is plain ``Key: value`` text for people (open it, copy the join command) and for
programs (:func:`read_cluster_info`). It never holds the cluster key: it says where the key
is instead. Unlike the runtime connection files (:mod:`~pycluster.cluster.local_heads`,
user-only, with the key) it is there to be read and passed on.

Two heads of the same name on one machine share the file name: the later one's file wins,
and a head only removes the file while it still describes that head.

>>> import os, tempfile
>>> os.environ["PYCLUSTER_CONFIG_DIR"] = tempfile.mkdtemp()
>>> info = ClusterInfoFile("demo", "tcp://127.0.0.1:8786", "http://127.0.0.1:8787", None,
...                        "pycluster worker --scheduler tcp://127.0.0.1:8786", "none")
>>> path = write_cluster_info(info)
>>> path.name, read_cluster_info("demo").scheduler_address
('cluster_info_demo.txt', 'tcp://127.0.0.1:8786')
>>> remove_cluster_info(path, info); path.exists()
False
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ClusterError
from ..user_dirs import config_dir

__all__ = [
    "ClusterInfoFile",
    "cluster_info_path",
    "read_cluster_info",
    "remove_cluster_info",
    "write_cluster_info",
]

# the file's keys, in the order written; the dataclass field of each
_KEYS = {
    "Cluster Name": "cluster_name",
    "Scheduler Address": "scheduler_address",
    "Dashboard URL": "dashboard_url",
    "Dask Dashboard URL": "dask_dashboard_url",
    "Join Command": "join_command",
    "Cluster Key": "cluster_key",
    "Started": "started",
    "PID": "pid",
}


@dataclass(frozen=True)
class ClusterInfoFile:
    """What ``cluster_info_<name>.txt`` says about a running head."""

    cluster_name: str
    scheduler_address: str
    dashboard_url: str | None
    dask_dashboard_url: str | None
    join_command: str  # the shell command that joins a worker machine
    cluster_key: str  # where the key is (or "none"): never the key itself
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S %z"))
    pid: int = field(default_factory=os.getpid)

    def to_text(self) -> str:
        lines = [
            f"# PyCluster connection information for cluster {self.cluster_name!r}.",
            "# Written by its head while it runs; removed when it stops. Never holds the cluster key.",
        ]
        for label, attr in _KEYS.items():
            value = getattr(self, attr)
            lines.append(f"{label}: {'-' if value is None else value}")
        lines += [
            "",
            "# From Python:",
            "#   from pycluster import WorkerNode",
            f'#   WorkerNode(scheduler_address="{self.scheduler_address}").start(n_workers=2)',
            "#   from pycluster import ClusterManager",
            f'#   ClusterManager.connect("{self.scheduler_address}")',
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str) -> ClusterInfoFile:
        values: dict[str, str | None] = {}
        for line in text.splitlines():
            if line.startswith("#") or ": " not in line:
                continue
            label, value = line.split(": ", 1)
            if label in _KEYS:
                values[_KEYS[label]] = None if value == "-" else value
        missing = [label for label, attr in _KEYS.items() if attr not in values]
        if missing:
            raise ClusterError(f"a cluster info file without {', '.join(missing)}: is it one a head wrote?")
        pid = values.pop("pid")
        return cls(**values, pid=int(pid or 0))  # type: ignore[arg-type]


def cluster_info_path(cluster_name: str, directory: Path | None = None) -> Path:
    """``<config folder>/cluster_info_<cluster_name>.txt``."""
    # a head's name is free text in Python: keep it one plain file name inside the folder
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", cluster_name).lstrip(".") or "_"
    return (directory or config_dir()) / f"cluster_info_{safe}.txt"


def write_cluster_info(info: ClusterInfoFile, directory: Path | None = None) -> Path:
    """Write (replace) the file for ``info``'s cluster; its path."""
    path = cluster_info_path(info.cluster_name, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(info.to_text(), encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def read_cluster_info(cluster_name: str, directory: Path | None = None) -> ClusterInfoFile:
    """The connection information of the running head named ``cluster_name`` on this machine."""
    path = cluster_info_path(cluster_name, directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClusterError(
            f"no {path.name} in {path.parent}: no head named {cluster_name!r} runs on this machine "
            "(a head writes it while it runs)"
        ) from None
    info = ClusterInfoFile.from_text(text)
    if not _alive(info.pid):  # its head was killed before it could remove the file
        with contextlib.suppress(OSError):
            path.unlink()
        raise ClusterError(
            f"{path.name} in {path.parent} was left by a head (pid {info.pid}) that no longer runs; "
            f"no head named {cluster_name!r} runs on this machine"
        )
    return info


def _alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


def remove_cluster_info(path: Path | None, info: ClusterInfoFile | None) -> None:
    """Remove the file at ``path`` if it still describes ``info``'s head (a later head of the
    same name may have replaced it)."""
    if path is None or info is None:
        return
    with contextlib.suppress(OSError, ClusterError):
        current = ClusterInfoFile.from_text(path.read_text(encoding="utf-8"))
        if (current.pid, current.scheduler_address) == (info.pid, info.scheduler_address):
            path.unlink()
