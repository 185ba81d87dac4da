"""Breeding one generation from the last: elitism, tournaments, crossover, mutation.

Every random choice comes from the one ``random.Random`` passed in, and nothing
here depends on where fitness was computed, so a seed gives the same answer on
every backend.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from .parameters import Individual, ParameterRange

__all__ = ["Breeding", "breed"]


@dataclass(frozen=True)
class Breeding:
    """The knobs of ``breed`` (checked by the optimizer)."""

    population_size: int
    mutation_rate: float
    crossover_rate: float
    elitism: int
    tournament_size: int


def breed(
    population: Sequence[Individual], ranges: Sequence[ParameterRange], how: Breeding, rng: random.Random
) -> list[Individual]:
    """The next generation; unchanged copies keep their fitness so they are not evaluated again."""
    ranked = sorted(population, key=_score, reverse=True)
    children = [p.copy() for p in ranked[: how.elitism]]
    while len(children) < how.population_size:
        mother, father = _tournament(population, how, rng), _tournament(population, how, rng)
        pair = _crossover(mother, father, ranges, rng) if rng.random() < how.crossover_rate else None
        for child in pair or (mother.copy(), father.copy()):
            children.append(_mutate(child, ranges, how.mutation_rate, rng))
    return children[: how.population_size]


def _score(individual: Individual) -> float:
    return individual.fitness if individual.fitness is not None else float("-inf")


def _tournament(population: Sequence[Individual], how: Breeding, rng: random.Random) -> Individual:
    entrants = [population[rng.randrange(len(population))] for _ in range(how.tournament_size)]
    return max(entrants, key=_score)


def _crossover(
    a: Individual, b: Individual, ranges: Sequence[ParameterRange], rng: random.Random
) -> tuple[Individual, Individual]:
    first = {r.name: r.cross(a.parameters[r.name], b.parameters[r.name], rng) for r in ranges}
    second = {r.name: r.cross(a.parameters[r.name], b.parameters[r.name], rng) for r in ranges}
    return Individual(first), Individual(second)


def _mutate(
    child: Individual, ranges: Sequence[ParameterRange], rate: float, rng: random.Random
) -> Individual:
    for r in ranges:
        if rng.random() < rate:
            child.parameters[r.name] = r.mutate(child.parameters[r.name], rng)
            child.fitness = None
    return child
