"""minimalcluster's API on pycluster: ``MasterNode`` and ``WorkerNode`` with the same names.

Scripts written for minimalcluster run unchanged (``from pycluster.minimal import
MasterNode, WorkerNode``). The code lives in :mod:`pycluster.compat.minimal`.
"""

from __future__ import annotations

from ..compat.minimal import MasterNode, WorkerNode

__all__ = ["MasterNode", "WorkerNode"]
