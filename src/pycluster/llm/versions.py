"""Model versions: deployments named ``name@version``, traffic split between versions by weight.

A new version is deployed beside the old one and gets no traffic until ``set_traffic`` gives
it some; ``rollback`` puts back the weights from before the last change. A request for
``name`` goes to a version drawn by weight; ``name@version`` pins one.

>>> check_weights("tiny", {"1": 90, "2": 10}, ["1", "2"])
{'1': 90.0, '2': 10.0}
>>> split_ref("tiny@2")
('tiny', '2')
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Traffic", "check_weights", "choose", "next_version", "split_ref"]


@dataclass
class Traffic:
    """One name's split: version -> weight, and the split before the last change (for rollback)."""

    weights: dict[str, float]
    previous: dict[str, float] | None = None


def split_ref(ref: str) -> tuple[str, str | None]:
    """``name@version`` -> (name, version); a plain name -> (name, None)."""
    if "@" not in ref:
        return ref, None
    name, version = ref.rsplit("@", 1)
    return name, version


def next_version(existing: Sequence[str]) -> str:
    """One more than the highest numeric version so far ("1" for the first)."""
    numbers = [int(v) for v in existing if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def check_weights(name: str, weights: Mapping[str, float], versions: Sequence[str]) -> dict[str, float]:
    """``weights`` checked against the deployed ``versions``; ConfigError naming the bad field."""
    for version, weight in weights.items():
        if version not in versions:
            known = sorted(versions)
            raise ConfigError(f"weights.{version}: {name} has no version {version!r} (deployed: {known})")
        if not 0 <= float(weight) < math.inf:  # NaN fails this too
            raise ConfigError(f"weights.{version} must be a finite number, 0 or more, got {weight}")
    if not any(float(w) > 0 for w in weights.values()):
        raise ConfigError("weights must give some traffic (a weight above 0) to at least one version")
    return {v: float(w) for v, w in weights.items()}


def choose(weights: Mapping[str, float], rng: random.Random | None = None) -> str:
    """A version drawn in proportion to its weight."""
    versions = [v for v, w in weights.items() if w > 0]
    return (rng or random).choices(versions, [weights[v] for v in versions])[0]
