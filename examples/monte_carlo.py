"""Example 3 of the PyCluster documentation: Monte Carlo estimate of pi."""

import numpy as np

from pycluster import HeadNode


def monte_carlo_pi(n_samples):
    """Estimate π using Monte Carlo method."""
    points = np.random.uniform(-1, 1, (n_samples, 2))
    inside_circle = np.sum(points[:, 0] ** 2 + points[:, 1] ** 2 <= 1)
    return 4 * inside_circle / n_samples


# Distributed Monte Carlo simulation
with HeadNode("monte-carlo") as head:
    head.start(n_local_workers=6)
    cluster = head.cluster_manager

    # Run multiple simulations in parallel
    n_simulations = 100
    samples_per_sim = 1000000

    futures = cluster.map_tasks(monte_carlo_pi, [samples_per_sim] * n_simulations)

    estimates = [f.result() for f in futures]

    # Calculate statistics
    mean_pi = np.mean(estimates)
    std_pi = np.std(estimates)

    print(f"π estimate: {mean_pi:.6f} ± {std_pi:.6f}")
    print(f"Error: {abs(mean_pi - np.pi):.6f}")
