"""Parallel map/reduce over multiprocessing, Dask or Ray, and a distributed genetic optimizer.

>>> from pycluster import BackendType, DistributedCoordinator, set_backend
>>> set_backend(BackendType.MULTIPROCESSING, num_workers=2)  # doctest: +SKIP
<MultiprocessingBackend running>
>>> DistributedCoordinator().map(lambda x: x**2, range(5))  # doctest: +SKIP
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

from .backends import Backend, BackendState, BackendType, get_backend, set_backend
from .coordinator import DistributedCoordinator
from .genetic import DistributedGeneticOptimizer
from .parameters import Individual, ParameterRange

__all__ = [
    "Backend",
    "BackendState",
    "BackendType",
    "DistributedCoordinator",
    "DistributedGeneticOptimizer",
    "Individual",
    "ParameterRange",
    "get_backend",
    "set_backend",
]
