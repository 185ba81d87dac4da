"""DistributedGeneticOptimizer: a genetic algorithm whose fitness evaluations run in parallel.

Breeding happens here, in the caller, from one seeded random generator; only the
fitness function runs on the backend, one generation at a time. So the same seed
gives the same answer on every backend. Fitness is maximised.

>>> optimizer = DistributedGeneticOptimizer(
...     [ParameterRange("x", -10.0, 10.0, "float"), ParameterRange("y", -10.0, 10.0, "float")],
...     population_size=40, seed=1)  # doctest: +SKIP
>>> best = optimizer.optimize(lambda p: -(p["x"] ** 2 + p["y"] ** 2), generations=40)  # doctest: +SKIP
>>> round(best.fitness, 3)  # doctest: +SKIP
-0.0
"""

from __future__ import annotations

import math
import numbers
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from .backends import Backend, BackendSpec, create_backend, get_backend
from .backends.registry import current_backend
from .coordinator import DistributedCoordinator
from .evolution import Breeding, breed
from .parameters import Individual, ParameterRange

__all__ = ["DistributedGeneticOptimizer"]

FitnessFunction = Callable[[dict[str, Any]], float]


class DistributedGeneticOptimizer:
    """Evolves ``population_size`` candidates over ``parameter_ranges``.

    ``backend``: a backend, a ``BackendType`` or name (started for each ``optimize``
    with ``num_workers`` and stopped after), or None for the current backend. With
    no backend set anywhere and ``num_workers`` given, ``optimize`` starts a process
    pool of that size and stops it after. ``elitism`` best candidates pass to the
    next generation unchanged; parents are picked by tournaments of ``tournament_size``.
    """

    def __init__(
        self,
        parameter_ranges: Sequence[ParameterRange],
        population_size: int = 50,
        num_workers: int | None = None,
        backend: BackendSpec = None,
        mutation_rate: float = 0.1,
        crossover_rate: float = 0.7,
        elitism: int = 2,
        tournament_size: int = 3,
        seed: int | None = None,
    ) -> None:
        self.parameter_ranges = _check_ranges(parameter_ranges)
        self.breeding = _check_breeding(
            population_size, mutation_rate, crossover_rate, elitism, tournament_size
        )
        self.population_size = population_size
        self.num_workers = num_workers
        self.backend = backend
        self.seed = seed
        self.best_individual: Individual | None = None
        self.history: list[dict[str, float]] = []
        self._stats = _RunStats()

    # ------------------------------------------------------------------ run
    def optimize(
        self,
        fitness_function: FitnessFunction,
        generations: int = 100,
        target_fitness: float | None = None,
        verbose: bool = False,
    ) -> Individual:
        """Run up to ``generations`` generations; the best individual (``.parameters``, ``.fitness``).

        Stops early once the best fitness reaches ``target_fitness``. A fitness that is
        NaN counts as the worst possible; one that is not a number raises TypeError.
        """
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
            raise ConfigError(f"generations must be a whole number >= 1, got {generations!r}")
        backend, owned = self._backend_for_run()
        try:
            self._stats = _RunStats(num_workers=backend.num_workers(), backend=backend.name)
            return self._evolve(
                DistributedCoordinator(backend), fitness_function, generations, target_fitness, verbose
            )
        finally:
            if owned:
                backend.shutdown()

    def _evolve(
        self,
        coordinator: DistributedCoordinator,
        fitness_function: FitnessFunction,
        generations: int,
        target: float | None,
        verbose: bool,
    ) -> Individual:
        rng = random.Random(self.seed)
        population = [
            Individual({r.name: r.sample(rng) for r in self.parameter_ranges})
            for _ in range(self.population_size)
        ]
        self.history, self.best_individual = [], None
        started = time.perf_counter()
        for generation in range(1, generations + 1):
            self._evaluate(coordinator, fitness_function, population)
            self._note_generation(generation, generations, population, verbose)
            if generation == generations or (target is not None and self._best_fitness() >= target):
                break
            population = breed(population, self.parameter_ranges, self.breeding, rng)
        self._stats.total_time = time.perf_counter() - started
        assert self.best_individual is not None
        return self.best_individual

    def _evaluate(
        self,
        coordinator: DistributedCoordinator,
        fitness_function: FitnessFunction,
        population: list[Individual],
    ) -> None:
        todo = [ind for ind in population if ind.fitness is None]
        started = time.perf_counter()
        values = self._evaluate_all(coordinator, fitness_function, [ind.parameters for ind in todo])
        self._stats.evaluation_time += time.perf_counter() - started
        self._stats.evaluations += len(todo)
        for individual, value in zip(todo, values):
            individual.fitness = _as_fitness(value, individual.parameters)

    def _evaluate_all(
        self,
        coordinator: DistributedCoordinator,
        fitness_function: FitnessFunction,
        params: list[dict[str, Any]],
    ) -> list[Any]:
        """One generation's fitness values, in order (the one step that runs in parallel)."""
        return coordinator.map(fitness_function, params)

    def _note_generation(
        self, generation: int, generations: int, population: list[Individual], verbose: bool
    ) -> None:
        scores = [_scored(ind) for ind in population]
        leader = population[scores.index(max(scores))]
        if self.best_individual is None or _scored(leader) > self._best_fitness():
            self.best_individual = leader.copy()
        mean = sum(scores) / len(scores)
        self.history.append(
            {"generation": generation, "best_fitness": self._best_fitness(), "mean_fitness": mean}
        )
        self._stats.generations_run = generation
        if verbose:
            print(
                f"generation {generation}/{generations}: best {self._best_fitness():.6g}, "
                f"mean {mean:.6g}, {self._stats.evaluations} evaluations so far"
            )

    def _best_fitness(self) -> float:
        assert self.best_individual is not None
        return _scored(self.best_individual)

    def _backend_for_run(self) -> tuple[Backend, bool]:
        if isinstance(self.backend, Backend):
            return self.backend, False
        if self.backend is not None:
            return create_backend(self.backend, num_workers=self.num_workers), True
        if current_backend() is None and self.num_workers is not None:
            return create_backend("multiprocessing", num_workers=self.num_workers), True
        return get_backend(), False

    # ------------------------------------------------------------------ stats
    def get_distributed_stats(self) -> dict[str, Any]:
        """Figures of the last ``optimize``: evaluations, their throughput, workers, generations."""
        s = self._stats
        return {
            "total_evaluations": s.evaluations,
            "throughput": s.evaluations / s.evaluation_time if s.evaluation_time else 0.0,
            "num_workers": s.num_workers,
            "generations_run": s.generations_run,
            "evaluation_time": s.evaluation_time,
            "total_time": s.total_time,
            "backend": s.backend,
            "best_fitness": self.best_individual.fitness if self.best_individual else None,
        }


class _RunStats:
    def __init__(self, num_workers: int = 0, backend: str = "") -> None:
        self.num_workers = num_workers
        self.backend = backend
        self.evaluations = 0
        self.evaluation_time = 0.0
        self.total_time = 0.0
        self.generations_run = 0


def _scored(individual: Individual) -> float:
    assert individual.fitness is not None, "every individual is evaluated before it is compared"
    return individual.fitness


def _as_fitness(value: Any, parameters: dict[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"the fitness function must return a number, "
            f"got {type(value).__name__} for parameters {parameters}"
        )
    value = float(value)
    return float("-inf") if math.isnan(value) else value


def _check_ranges(ranges: Sequence[ParameterRange]) -> list[ParameterRange]:
    ranges = list(ranges)
    if not ranges or not all(isinstance(r, ParameterRange) for r in ranges):
        raise ConfigError("parameter_ranges must be a non-empty list of ParameterRange")
    names = [r.name for r in ranges]
    if len(set(names)) != len(names):
        raise ConfigError(f"parameter names must be unique, got {names}")
    return ranges


def _check_breeding(size: int, mutation: float, crossover: float, elitism: int, tournament: int) -> Breeding:
    def whole(value: Any, low: int, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")

    whole(size, 2, "population_size")
    whole(elitism, 0, "elitism")
    whole(tournament, 1, "tournament_size")
    if elitism >= size:
        raise ConfigError(f"elitism ({elitism}) must be below population_size ({size})")
    for name, rate in (("mutation_rate", mutation), ("crossover_rate", crossover)):
        if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
            raise ConfigError(f"{name} must be between 0 and 1, got {rate!r}")
    return Breeding(size, float(mutation), float(crossover), elitism, tournament)
