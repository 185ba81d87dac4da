"""The product documentation's Dask backend: attach to a scheduler, or start a local cluster.

Run: python examples/dask_backend.py                      (local cluster, 2 workers)
     python examples/dask_backend.py tcp://scheduler:8786  (a running pycluster head or Dask scheduler)
"""

import sys

from pycluster import BackendType, DistributedCoordinator, set_backend

if len(sys.argv) > 1:
    # Connect to Dask scheduler
    backend = set_backend(BackendType.DASK, address=sys.argv[1])
else:
    # Or start local Dask cluster
    backend = set_backend(BackendType.DASK, n_workers=2)

with backend:  # shuts down what it started (a local cluster), never a cluster it attached to
    coordinator = DistributedCoordinator()
    squares = coordinator.map(lambda x: x**2, range(100_000))
    print(f"Sum of 100,000 squares on {backend.num_workers()} Dask workers: {sum(squares)}")
