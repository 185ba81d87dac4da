"""Replica autoscaling as Ray Serve does it: from requests in flight to a replica count.

A deployment with an ``AutoscalingConfig`` runs between ``min_replicas`` and ``max_replicas``
replicas, aiming at ``target_ongoing_requests`` requests in flight per replica. A decision to
grow holds only once the load has asked for it for ``upscale_delay_s`` (to shrink, for
``downscale_delay_s``), so a short burst or lull does not start or stop a model. With
``min_replicas=0`` an idle deployment scales to zero and its next request waits for a replica.

``Autoscaler.decide`` is the pure decision (its clock is injectable); the manager's
``ScalingLoop`` (``llm/scaling.py``) applies it.

>>> config = AutoscalingConfig(min_replicas=1, max_replicas=4, target_ongoing_requests=2,
...                            upscale_delay_s=5, downscale_delay_s=60)
>>> now = [0.0]
>>> scaler = Autoscaler(config, clock=lambda: now[0])
>>> scaler.decide(current=1, ongoing=7).replicas        # wants 4: not for 5 s yet
1
>>> now[0] = 5.0
>>> scaler.decide(current=1, ongoing=7).replicas
4
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["Autoscaler", "AutoscalingConfig", "ScaleDecision"]


@dataclass(frozen=True)
class AutoscalingConfig:
    """Ray Serve's ``autoscaling_config`` fields, checked (a bad one is a ConfigError naming it)."""

    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0  # requests in flight per replica the deployment aims at
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ConfigError(f"autoscaling.min_replicas must be 0 or more, got {self.min_replicas}")
        if self.max_replicas < 1:
            raise ConfigError(f"autoscaling.max_replicas must be at least 1, got {self.max_replicas}")
        if self.min_replicas > self.max_replicas:
            raise ConfigError(
                f"autoscaling.min_replicas ({self.min_replicas}) is more than autoscaling.max_replicas "
                f"({self.max_replicas}): lower min_replicas or raise max_replicas"
            )
        if not self.target_ongoing_requests > 0:
            raise ConfigError(
                f"autoscaling.target_ongoing_requests must be more than 0, got {self.target_ongoing_requests}"
            )
        for name in ("upscale_delay_s", "downscale_delay_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"autoscaling.{name} must be 0 or more seconds, got {getattr(self, name)}")

    @property
    def initial_replicas(self) -> int:
        """Replicas a new deployment starts with: at least one, so a deploy shows the model loads."""
        return max(1, self.min_replicas)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AutoscalingConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"autoscaling has no field {unknown[0]!r}: use {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class ScaleDecision:
    replicas: int  # what to run now
    wanted: int  # what the load asks for, before min/max and the delays
    reason: str | None  # why ``replicas`` is not ``wanted`` (the delays, max_replicas), for people


class Autoscaler:
    """Turns (replicas running, requests in flight) into the replica count to run now."""

    def __init__(self, config: AutoscalingConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._since: float | None = None  # when the load started asking for ``_towards``
        self._towards = 0  # +1 grow, -1 shrink

    def decide(self, current: int, ongoing: int) -> ScaleDecision:
        config = self.config
        wanted = math.ceil(ongoing / config.target_ongoing_requests)
        desired = min(config.max_replicas, max(config.min_replicas, wanted))
        if current == 0 and ongoing > 0:  # a request waits for a replica: no delay makes sense
            return self._done(max(1, desired), wanted)
        direction = (desired > current) - (desired < current)
        if direction == 0:
            self._since = None
            reason = self._at_max(wanted)
            return ScaleDecision(current, wanted, reason)
        delay = config.upscale_delay_s if direction > 0 else config.downscale_delay_s
        now = self.clock()
        if self._since is None or self._towards != direction:
            self._since, self._towards = now, direction
        if now - self._since >= delay:
            return self._done(desired, wanted)
        verb = "grow" if direction > 0 else "shrink"
        waited = f"{now - self._since:.0f} of {delay:g} s"
        return ScaleDecision(current, wanted, f"load asks to {verb} to {desired} replicas ({waited} so far)")

    def _done(self, replicas: int, wanted: int) -> ScaleDecision:
        self._since = None
        return ScaleDecision(replicas, wanted, self._at_max(wanted))

    def _at_max(self, wanted: int) -> str | None:
        if wanted > self.config.max_replicas:
            return f"at max_replicas={self.config.max_replicas}: the load asks for {wanted} replicas"
        return None
