"""minimalcluster's API on pycluster: ``MasterNode`` and ``WorkerNode`` with the same names.

Scripts written for minimalcluster run unchanged (``from pycluster.minimal import
MasterNode, WorkerNode``). Underneath: a pycluster head (Dask), TLS with mutual
authentication from the AUTHKEY, and batched calls. Differences from the original
are listed in docs/how-to/minimalcluster.md.
"""

from __future__ import annotations

from .master import MasterNode
from .worker import WorkerNode

__all__ = ["MasterNode", "WorkerNode"]
