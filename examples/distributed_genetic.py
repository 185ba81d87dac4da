"""Distributed genetic algorithm: the product documentation's basic example, as written.

Fitness evaluation of each generation is spread over 8 worker processes.
Run: python examples/distributed_genetic.py
"""

from pycluster import BackendType, DistributedGeneticOptimizer, ParameterRange, set_backend

# Setup backend
set_backend(BackendType.MULTIPROCESSING, num_workers=8)

# Define optimization problem
param_ranges = [
    ParameterRange("x", -10.0, 10.0, "float"),
    ParameterRange("y", -10.0, 10.0, "float"),
]


def fitness_function(params):
    # Expensive fitness computation
    x, y = params["x"], params["y"]
    return -(x**2 + y**2)  # Maximize


# Create distributed optimizer
optimizer = DistributedGeneticOptimizer(
    parameter_ranges=param_ranges,
    population_size=1000,  # Large population
    num_workers=8,
)

# Run optimization (fitness evaluation distributed)
best = optimizer.optimize(fitness_function=fitness_function, generations=100)

print(f"Best solution: x={best.parameters['x']:.4f}, y={best.parameters['y']:.4f}")
print(f"Best fitness: {best.fitness:.4f}")

# Get distributed optimization statistics
stats = optimizer.get_distributed_stats()
print(f"Total evaluations: {stats['total_evaluations']}")
print(f"Throughput: {stats['throughput']:.1f} evals/s")
print(f"Workers: {stats['num_workers']}")
