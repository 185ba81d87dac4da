"""ParameterRange (one gene of the search space) and Individual (one candidate).

>>> import random
>>> rate = ParameterRange("learning_rate", 0.001, 0.1, "float")
>>> 0.001 <= rate.sample(random.Random(1)) <= 0.1
True
>>> ParameterRange("activation", values=["relu", "tanh"]).param_type
'choice'
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["PARAM_TYPES", "Individual", "ParameterRange"]

PARAM_TYPES = ("float", "int", "choice")
# Float mutations draw their step size log-uniformly between these shares of the range:
# big steps explore, tiny ones polish the answer, with no schedule to tune.
MUTATION_SCALES = (1e-5, 0.2)
BLEND_ALPHA = 0.5  # BLX-alpha crossover: children may land a little outside their parents


@dataclass(frozen=True)
class ParameterRange:
    """A parameter to optimise: a ``float`` or ``int`` in [min_value, max_value], or a ``choice``."""

    name: str
    min_value: float | None = None
    max_value: float | None = None
    param_type: str = "float"
    values: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.values is not None:
            object.__setattr__(self, "values", tuple(self.values))
            if self.param_type == "float":  # values= alone means a choice
                object.__setattr__(self, "param_type", "choice")
        if self.param_type not in PARAM_TYPES:
            raise ConfigError(
                f"parameter {self.name!r}: type {self.param_type!r} is not one of {PARAM_TYPES}"
            )
        if self.param_type == "choice":
            self._check_choice()
        else:
            self._check_bounds()

    def _check_choice(self) -> None:
        if not self.values:
            raise ConfigError(
                f"parameter {self.name!r}: a 'choice' needs values=[...] with at least one value"
            )

    def _check_bounds(self) -> None:
        low, high = self.min_value, self.max_value
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)):
            raise ConfigError(
                f"parameter {self.name!r}: min and max must be finite numbers, got {low!r}, {high!r}"
            )
        assert low is not None and high is not None
        if low > high:
            raise ConfigError(f"parameter {self.name!r}: min {low} is above max {high}")
        if self.param_type == "int" and math.ceil(low) > math.floor(high):
            raise ConfigError(f"parameter {self.name!r}: no whole number between {low} and {high}")

    @property
    def bounds(self) -> tuple[float, float]:
        """(min_value, max_value) of a float or int parameter."""
        assert self.min_value is not None and self.max_value is not None, "a choice has no bounds"
        return self.min_value, self.max_value

    @property
    def span(self) -> float:
        low, high = self.bounds
        return float(high - low)

    def sample(self, rng: random.Random) -> Any:
        """A uniformly random value."""
        if self.param_type == "choice":
            return rng.choice(self.choices)
        low, high = self.bounds
        if self.param_type == "int":
            return rng.randint(math.ceil(low), math.floor(high))
        return rng.uniform(low, high)

    def clip(self, value: float) -> Any:
        """``value`` moved into range (and rounded for ``int``)."""
        low, high = self.bounds
        if self.param_type == "int":
            return int(min(math.floor(high), max(math.ceil(low), round(value))))
        return float(min(high, max(low, value)))

    @property
    def choices(self) -> tuple[Any, ...]:
        """The values of a choice parameter."""
        assert self.values is not None, "only a choice has values"
        return self.values

    def mutate(self, value: Any, rng: random.Random) -> Any:
        """A nearby value (any other value for a choice)."""
        if self.param_type == "choice":
            others = [v for v in self.choices if v != value]
            return rng.choice(others) if others else value
        step = self.span * 10 ** rng.uniform(*map(math.log10, MUTATION_SCALES))
        moved = self.clip(value + rng.gauss(0.0, step))
        if self.param_type == "int" and moved == value and self.span >= 1:
            moved = self.clip(value + rng.choice((-1, 1)))  # an int step below 0.5 would change nothing
        return moved

    def cross(self, a: Any, b: Any, rng: random.Random) -> Any:
        """A child value from parents' values ``a`` and ``b``."""
        if self.param_type != "float":
            return a if rng.random() < 0.5 else b
        low, high = min(a, b), max(a, b)
        reach = BLEND_ALPHA * (high - low)
        return self.clip(rng.uniform(low - reach, high + reach))


@dataclass
class Individual:
    """One candidate: its ``parameters`` and, once evaluated, its ``fitness`` (higher is better)."""

    parameters: dict[str, Any]
    fitness: float | None = field(default=None)

    def copy(self) -> Individual:
        return Individual(dict(self.parameters), self.fitness)
