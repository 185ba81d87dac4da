"""Example 2 of the product documentation: distributed hyperparameter optimization.

``train_and_evaluate`` stands in for real training: a smooth "validation accuracy"
that peaks at learning_rate 0.01, batch_size 64, hidden_dim 256, dropout 0.2.
Run: python examples/hyperparameter_search.py
"""

import math

from pycluster import DistributedGeneticOptimizer, ParameterRange

# Define hyperparameter search space
param_ranges = [
    ParameterRange("learning_rate", 1e-4, 1e-1, "float"),
    ParameterRange("batch_size", 16, 256, "int"),
    ParameterRange("hidden_dim", 64, 512, "int"),
    ParameterRange("dropout", 0.0, 0.5, "float"),
]


def train_and_evaluate(params):
    # Train model with given hyperparameters (here: a formula with a known best)
    lr_term = (math.log10(params["learning_rate"]) + 2) ** 2
    batch_term = (math.log2(params["batch_size"]) - 6) ** 2 / 4
    hidden_term = ((params["hidden_dim"] - 256) / 256) ** 2
    dropout_term = (params["dropout"] - 0.2) ** 2 * 4
    val_acc = 0.95 - 0.05 * (lr_term + batch_term + hidden_term + dropout_term)
    return val_acc  # Return validation accuracy


# Distributed hyperparameter optimization
optimizer = DistributedGeneticOptimizer(parameter_ranges=param_ranges, population_size=100, num_workers=16)

best_params = optimizer.optimize(fitness_function=train_and_evaluate, generations=50, verbose=True)

print(f"Best hyperparameters: {best_params.parameters}")
print(f"Best validation accuracy: {best_params.fitness:.4f}")
