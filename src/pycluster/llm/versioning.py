"""Model versions on the manager: ``name@version`` lookup, traffic split by weight, rollback.

A mixin of ``LLMClusterManager`` (kept apart so the manager stays about deployments and
requests); the decisions themselves are the pure functions in ``versions.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DeploymentNotFoundError, DeploymentStateError
from .deployment import Deployment
from .results import ModelVersion
from .versions import Traffic, check_weights, choose, next_version, split_ref

__all__ = ["VersionRouting"]


class VersionRouting:
    """Versions and traffic over the manager's shared state (``self._state``)."""

    if TYPE_CHECKING:
        _state: Any

    def _by_name(self, ref: str) -> Deployment | None:
        name, version = split_ref(ref)
        if version is not None and self._versions_of(name):
            found = [d for d in self._versions_of(name) if d.spec.version == version]
            if not found:
                known = sorted(d.spec.version for d in self._versions_of(name))
                raise ConfigError(f"version: {name} has no version {version!r} deployed (versions: {known})")
            return found[0]
        named = self._versions_of(ref) or [
            d for d in self._state.deployments.values() if d.spec.model_name == ref
        ]
        traffic = self._state.traffic.get(ref)
        if len(named) > 1 and traffic is not None:
            drawn = choose(traffic.weights)
            return next((d for d in named if d.spec.version == drawn), named[0])
        return named[0] if named else None

    # ------------------------------------------------------------------ versions
    def versions(self, name: str) -> list[ModelVersion]:
        """Every deployed version of ``name``, with its share of the traffic."""
        with self._state.lock:
            deps = self._versions_of(name)
            if not deps:
                raise DeploymentNotFoundError(f"no deployment named {name!r}: see list_deployments()")
            weights = self._state.traffic.get(name, Traffic({})).weights
            return [
                ModelVersion(d.spec.version, d.id, d.status.value, weights.get(d.spec.version, 0.0))
                for d in sorted(deps, key=lambda d: d.created_at)
            ]

    def set_traffic(self, name: str, weights: Mapping[str, float]) -> list[ModelVersion]:
        """Split ``name``'s requests between its versions by ``weights`` (version -> weight)."""
        with self._state.lock:
            known = [d.spec.version for d in self._versions_of(name)]
            if not known:
                raise DeploymentNotFoundError(f"no deployment named {name!r}: see list_deployments()")
            checked = check_weights(name, weights, known)
            current = self._state.traffic.get(name)
            self._state.traffic[name] = Traffic(checked, current.weights if current else None)
            self._apply_traffic(name)
        return self.versions(name)

    def rollback(self, name: str) -> list[ModelVersion]:
        """Put back ``name``'s traffic split from before its last change."""
        with self._state.lock:
            current = self._state.traffic.get(name)
            known = [d.spec.version for d in self._versions_of(name)]
            if current is None or current.previous is None:
                raise DeploymentStateError(f"{name} has no earlier traffic split to roll back to")
            previous = {v: w for v, w in current.previous.items() if v in known}
            if not any(w > 0 for w in previous.values()):
                raise DeploymentStateError(
                    f"the versions {name}'s earlier split used are gone: set_traffic instead"
                )
            self._state.traffic[name] = Traffic(previous, current.weights)
            self._apply_traffic(name)
        return self.versions(name)

    def _versions_of(self, name: str) -> list[Deployment]:
        return [d for d in self._state.deployments.values() if d.spec.name == name]

    def _new_version(self, name: str, version: str | None) -> str:
        with self._state.lock:
            existing = self._versions_of(name)
        if version is None:
            return next_version([d.spec.version for d in existing])
        taken = next((d for d in existing if d.spec.version == version), None)
        if taken is not None:
            raise ConfigError(
                f"version: {name}@{version} is deployed already ({taken.id}): use another version"
            )
        return version

    def _first_version_takes_traffic(self, dep: Deployment) -> None:
        name = dep.spec.name or dep.spec.model_name
        if name not in self._state.traffic:
            self._state.traffic[name] = Traffic({dep.spec.version: 1.0})
        self._apply_traffic(name)

    def _drop_version(self, dep: Deployment) -> None:
        name = dep.spec.name or dep.spec.model_name
        traffic = self._state.traffic.get(name)
        rest = self._versions_of(name)
        if traffic is None:
            return
        traffic.weights.pop(dep.spec.version, None)
        if not rest:
            del self._state.traffic[name]
            if self._state.store is not None:
                self._state.store.delete_traffic(name)
            return
        if not any(w > 0 for w in traffic.weights.values()):  # its traffic goes to the newest left
            newest = max(rest, key=lambda d: d.created_at)
            traffic.weights[newest.spec.version] = 1.0
        self._apply_traffic(name)

    def _apply_traffic(self, name: str) -> None:
        """Show each version its weight, and keep the split in the store."""
        traffic = self._state.traffic.get(name)
        if traffic is None:
            return
        for dep in self._versions_of(name):
            dep.traffic_weight = traffic.weights.get(dep.spec.version, 0.0)
        if self._state.store is not None:
            self._state.store.save_traffic(name, traffic.weights, traffic.previous)
