"""WorkerNode: minimalcluster's worker, as ``nprocs`` Dask worker processes joining a MasterNode.

>>> WorkerNode("192.168.1.10", 8888, "a-long-random-secret", nprocs=4).join_cluster()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import os
import tempfile
import threading
from pathlib import Path

from ...cluster.worker_options import WorkerOptions
from ...cluster.worker_process import WorkerProcess
from .keys import cluster_key

__all__ = ["WorkerNode"]


class WorkerNode:
    """Worker processes on this machine for the master at ``IP:PORT`` with ``AUTHKEY``.

    ``nprocs`` is capped at this machine's cores, as in the original. ``join_cluster()``
    blocks until the master shuts down, ``shutdown()`` is called, or Ctrl-C.
    """

    def __init__(
        self, IP: str, PORT: int, AUTHKEY: str | bytes, nprocs: int = 1, quiet: bool = False
    ) -> None:
        cores = os.cpu_count() or 1
        if not isinstance(nprocs, int) or nprocs < 1 or nprocs > cores:
            print(
                f"[WARNING] nprocs={nprocs!r} is not between 1 and this node's {cores} cores; using {cores}."
            )
            nprocs = cores
        self.IP, self.PORT, self.nprocs, self.quiet = IP, int(PORT), nprocs, quiet
        text, self._cluster_key = cluster_key(AUTHKEY)
        self.AUTHKEY = text.encode("utf-8", "surrogateescape")
        self._stop = threading.Event()
        self._process: WorkerProcess | None = None

    def join_cluster(self, timeout: float = 30.0) -> None:
        """Join the master and work until it shuts down (or ``shutdown()`` / Ctrl-C)."""
        options = WorkerOptions.create(
            f"tls://{self.IP}:{self.PORT}",
            n_workers=self.nprocs,
            threads_per_worker=1,
            death_timeout=15.0,  # stop once the master has been gone this long
            connect_timeout=timeout,
            auth_key=self._cluster_key,
        )
        process = WorkerProcess(
            options, Path(tempfile.mkdtemp(prefix="pycluster-minimal-")), watch_parent=True
        )
        self._say(f"Building connection to {self.IP}:{self.PORT}")
        process.start(timeout=timeout + 60)
        self._process = process
        self._say(f"Listening to Master node {self.IP}:{self.PORT} with {self.nprocs} processes")
        try:
            while process.alive and not self._stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            process.stop()
            self._say("Left the cluster.")

    def shutdown(self) -> None:
        """Make a blocked ``join_cluster()`` (in another thread) leave the cluster and return."""
        self._stop.set()

    @property
    def worker_addresses(self) -> list[str]:
        return list(self._process.worker_addresses) if self._process else []

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{datetime.datetime.now()}] {text}", flush=True)
