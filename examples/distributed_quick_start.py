"""Distributed Computing quick start: the product documentation's coordinator examples, as written.

A plain top-level script (no main guard needed): the pool's workers never re-import it.
Run: python examples/distributed_quick_start.py
"""

from pycluster import BackendType, DistributedCoordinator, set_backend

# Set multiprocessing backend with 4 workers
set_backend(BackendType.MULTIPROCESSING, num_workers=4)

# Create coordinator
coordinator = DistributedCoordinator()


# Distribute computation
def expensive_function(x):
    return x**2


results = coordinator.map(expensive_function, range(1000))
print(f"Processed {len(results)} items")

# Map function over items (lambdas work too)
results = coordinator.map(lambda x: x**2, range(100))
print(f"Squares: {results[:5]} ... {results[-1]}")

# Sum of squares using map-reduce
result = coordinator.reduce(
    func=lambda x: x**2,  # Map: square each number
    items=[1, 2, 3, 4, 5],
    reducer=lambda a, b: a + b,  # Reduce: sum results
    initial=0,
)
print(f"Sum of squares: {result}")  # Result: 55


def train_model(hyper, schedule):
    """A stand-in for real training: a score from the learning rate and the epochs."""
    return round(1.0 - abs(hyper["lr"] - 0.01) * 5 - 1.0 / schedule["epochs"], 4)


# Submit batch of tasks with different arguments
results = coordinator.submit_batch(
    func=train_model,
    args_list=[
        ({"lr": 0.01}, {"epochs": 10}),
        ({"lr": 0.001}, {"epochs": 20}),
        ({"lr": 0.1}, {"epochs": 5}),
    ],
)
print(f"Batch results: {results}")

# Many small tasks - use chunking
coordinator.map(lambda x: x + 1, range(10000), chunksize=100)

# Get performance statistics
stats = coordinator.get_stats()
print(f"Tasks completed: {stats['tasks_completed']}")
print(f"Throughput: {stats['throughput']:.1f} tasks/s")
print(f"Avg task time: {stats['avg_task_time']:.2e}s")
print(f"Workers: {stats['num_workers']}")
