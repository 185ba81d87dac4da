"""DistributedGeneticOptimizer: finds maxima, stops early, and gives one answer per seed on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from pycluster import ConfigError, DistributedGeneticOptimizer, ParameterRange
from pycluster.parallel.backends import Backend

XY = [ParameterRange("x", -10.0, 10.0, "float"), ParameterRange("y", -10.0, 10.0, "float")]


def bowl(params: dict[str, Any]) -> float:
    return -(params["x"] ** 2 + params["y"] ** 2)


class SequentialOptimizer(DistributedGeneticOptimizer):
    """The same algorithm with fitness computed in a plain loop: the reference answer."""

    def _evaluate_all(
        self, coordinator: Any, fitness_function: Any, params: list[dict[str, Any]]
    ) -> list[Any]:
        return [fitness_function(p) for p in params]


def test_finds_the_maximum_of_the_bowl(multiprocessing_backend: Backend) -> None:
    optimizer = DistributedGeneticOptimizer(XY, population_size=40, backend=multiprocessing_backend, seed=7)
    best = optimizer.optimize(bowl, generations=40)
    assert abs(best.parameters["x"]) < 1e-2 and abs(best.parameters["y"]) < 1e-2
    assert best.fitness > -1e-2
    stats = optimizer.get_distributed_stats()
    assert stats["generations_run"] == 40
    assert stats["num_workers"] == 2
    # elites and unchanged copies are not evaluated again
    assert 40 < stats["total_evaluations"] < 40 * 40
    assert stats["throughput"] > 0


def test_same_seed_same_answer_on_every_backend(backend: Backend) -> None:
    reference = SequentialOptimizer(XY, population_size=24, backend=backend, seed=11)
    expected = reference.optimize(bowl, generations=8)
    optimizer = DistributedGeneticOptimizer(XY, population_size=24, backend=backend, seed=11)
    best = optimizer.optimize(bowl, generations=8)
    assert best.parameters == expected.parameters and best.fitness == expected.fitness
    assert optimizer.history == reference.history
    assert optimizer.get_distributed_stats()["backend"] == backend.name


def test_stops_early_at_target_fitness(multiprocessing_backend: Backend) -> None:
    optimizer = DistributedGeneticOptimizer(XY, population_size=20, backend=multiprocessing_backend, seed=3)
    best = optimizer.optimize(bowl, generations=500, target_fitness=-0.5)
    assert best.fitness >= -0.5
    assert optimizer.get_distributed_stats()["generations_run"] < 500
    assert len(optimizer.history) == optimizer.get_distributed_stats()["generations_run"]


def test_int_and_choice_parameters(
    multiprocessing_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    ranges = [
        ParameterRange("layers", 1, 20, "int"),
        ParameterRange("activation", values=["relu", "tanh", "gelu"]),
    ]
    bonus = {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}
    optimizer = DistributedGeneticOptimizer(
        ranges, population_size=16, backend=multiprocessing_backend, seed=5
    )
    best = optimizer.optimize(lambda p: -((p["layers"] - 7) ** 2) + bonus[p["activation"]], 25, verbose=True)
    assert best.parameters == {"layers": 7, "activation": "gelu"}
    assert isinstance(best.parameters["layers"], int)
    assert "generation 1/25: best" in capsys.readouterr().out


def test_fitness_errors_reach_the_caller(multiprocessing_backend: Backend) -> None:
    optimizer = DistributedGeneticOptimizer(XY, population_size=8, backend=multiprocessing_backend, seed=1)

    def broken(params: dict[str, Any]) -> float:
        raise KeyError("learning_rate")

    with pytest.raises(KeyError, match="learning_rate") as caught:
        optimizer.optimize(broken, generations=2)
    assert "item 0" in caught.value.__notes__[0]
    with pytest.raises(TypeError, match="must return a number, got str"):
        optimizer.optimize(lambda p: "high", generations=2)


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: ParameterRange("x", 5.0, 1.0), "min 5.0 is above max 1.0"),
        (lambda: ParameterRange("x", 0, 1, "complex"), "is not one of"),
        (lambda: ParameterRange("x", param_type="choice"), "needs values="),
        (lambda: ParameterRange("n", 0.2, 0.8, "int"), "no whole number"),
        (lambda: DistributedGeneticOptimizer([], population_size=10), "non-empty list"),
        (lambda: DistributedGeneticOptimizer(XY, population_size=1), "population_size must be"),
        (lambda: DistributedGeneticOptimizer(XY, population_size=10, mutation_rate=2), "mutation_rate"),
        (lambda: DistributedGeneticOptimizer(XY, population_size=4, elitism=4), "elitism"),
        (lambda: DistributedGeneticOptimizer(XY + XY[:1], population_size=4), "unique"),
    ],
)
def test_bad_settings_raise_config_error(build: Any, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        build()
