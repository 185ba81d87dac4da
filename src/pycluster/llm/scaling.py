"""The thread that applies autoscaling decisions to a head's deployments.

Every ``interval`` it reads each autoscaling deployment's requests in flight (counted on the
head, where requests are routed, so a request still waiting for a replica counts too), asks
its ``Autoscaler`` how many replicas to run, and grows or shrinks it through the manager:
growing goes through placement (``LLMResourceManager`` for GPU replicas), and a replica that
cannot be placed is not attempted; shrinking takes only replicas with nothing in flight.
After replicas fail to load, growing waits longer after each failure (``backoff.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .deployment import Deployment
from .spec import DeploymentStatus

__all__ = ["ScalingLoop"]

log = logging.getLogger(__name__)

TICK = 0.25  # seconds between decisions: short next to any delay a deployment would use


class ScalingLoop:
    """Runs ``tick`` over ``deployments()`` on a thread of its own until ``stop``."""

    def __init__(
        self,
        deployments: Callable[[], list[Deployment]],
        grow: Callable[[Deployment, int], str | None],
        shrink: Callable[[Deployment, int], None],
        interval: float = TICK,
    ) -> None:
        self.deployments, self.grow, self.shrink, self.interval = deployments, grow, shrink, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pycluster-llm-autoscaler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for dep in self.deployments():
                if dep.autoscaler is None:
                    continue
                try:
                    self.tick(dep)
                except Exception:  # one deployment's trouble must not stop the others' scaling
                    log.exception("autoscaling deployment %s failed", dep.id)

    def tick(self, dep: Deployment) -> None:
        assert dep.autoscaler is not None
        with dep.scaling:
            if dep.status == DeploymentStatus.STOPPED:  # stopped between the listing and now
                return
            live = [r for r in dep.replicas if r.status in (DeploymentStatus.LOADING, DeploymentStatus.READY)]
            decision = dep.autoscaler.decide(len(live), dep.in_flight)
            reason, waiting = decision.reason, self._note_loads(dep)
            if decision.replicas > len(live):
                reason = waiting or self.grow(dep, decision.replicas - len(live)) or reason
            elif decision.replicas < len(live):
                self.shrink(dep, len(live) - decision.replicas)
            dep.wanted_replicas, dep.scaling_reason = decision.wanted, reason

    @staticmethod
    def _note_loads(dep: Deployment) -> str | None:
        """Count replicas that failed to load since the last tick into the deployment's backoff
        (a ready one resets it); returns why no replica may start yet, or None."""
        assert dep.autoscaler is not None
        now, backoff = time.monotonic(), dep.load_backoff
        if any(r.status == DeploymentStatus.READY for r in dep.replicas):
            backoff.succeeded()
        for handle in dep.replicas:
            if handle.status == DeploymentStatus.FAILED and not handle.failure_counted:
                handle.failure_counted = True
                backoff.failed(handle.reason or "failed", dep.autoscaler.config.upscale_delay_s, now)
        return backoff.waiting(now)
