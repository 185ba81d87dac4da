"""Example 3 of the product documentation: large-scale work on a Ray cluster.

Attaches to the cluster in RAY_ADDRESS (for instance ray://cluster-head.local:10001);
without it, starts a local Ray with 2 CPUs on 127.0.0.1. Needs: pip install "pycluster[ray]".
Run: python examples/ray_cluster.py
"""

import math
import os

from pycluster import BackendType, DistributedCoordinator, set_backend

address = os.environ.get("RAY_ADDRESS")
if address:
    # Connect to Ray cluster
    backend = set_backend(BackendType.RAY, address=address)
else:
    # Or start local Ray cluster
    backend = set_backend(BackendType.RAY, num_cpus=2)

print(f"Connected to Ray with {backend.num_workers()} workers")

# Use cluster for large-scale optimization
coordinator = DistributedCoordinator()


def run_simulation(rate, steps):
    value = 1.0
    for _ in range(steps):
        value += rate * math.sin(value)
    return value


def generate_parameter_sets(n):
    return [{"rate": 0.001 * (i % 100), "steps": 100} for i in range(n)]


def expensive_simulation(params):
    # Run expensive simulation
    return run_simulation(**params)


# Distribute across entire cluster
param_sets = generate_parameter_sets(10000)
results = coordinator.map(expensive_simulation, param_sets)

print(f"Completed {len(results)} simulations")
backend.shutdown()  # stops the local Ray; on a cluster, only disconnects
