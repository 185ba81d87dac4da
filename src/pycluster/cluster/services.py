"""Head services: what a head runs beside its scheduler, with one lifecycle.

A head service is a :class:`HeadService` (like distributed's ``SchedulerPlugin``: a base
class whose hooks do nothing unless overridden). It has a ``name``, the names of the
services it ``requires``, and says whether it is ``stateful`` (keeps state in the head's
state directory, so one head at a time may run it there). The head starts its services in
dependency order on its event loop, after the scheduler and the local workers, and stops
them in reverse; a requirement that is missing or cyclic is a :class:`ClusterError`
before anything starts. Each service hands the head one public object (``public``), which
the head serves as ``head.services[name]`` and through its typed accessors.

>>> class Greeter(HeadService):
...     name = "greeter"
...     async def start(self, ctx: HeadContext) -> None:
...         self.greeting = f"hello from {ctx.settings.cluster.name}"
>>> HeadNode(services=("jobs", Greeter()))  # doctest: +SKIP

Built-in services are listed in :data:`BUILTIN_SERVICES` and imported only when a head
starts them (the cluster package imports nothing above it); other packages add theirs
through the entry-point group ``pycluster.head_services`` (``name = "module:Class"``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import Settings
from ..errors import ClusterError
from .loop import LoopThread

if TYPE_CHECKING:
    from .head import HeadNode
    from .manager import ClusterManager

__all__ = [
    "BUILTIN_SERVICES",
    "ENTRY_POINT_GROUP",
    "HeadContext",
    "HeadService",
    "resolve_services",
    "start_order",
    "start_services",
    "stop_services",
]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pycluster.head_services"

# The built-in services, in the order a head starts them when nothing orders them otherwise,
# as entry-point values ("module:Class"): each is imported only when a head runs it.
BUILTIN_SERVICES: dict[str, str] = {
    "metrics": "pycluster.monitor.history:MetricsService",
    "gpu": "pycluster.monitor.gpu_service:GPUService",
    "jobs": "pycluster.jobs.service:JobQueueService",
    "datasets": "pycluster.data.service:DatasetService",
    "llm": "pycluster.llm.service:LLMService",
    "web": "pycluster.web.server:WebService",
    "discovery": "pycluster.net.responder:DiscoveryService",
}

# seconds one service may take to stop before the head goes on with the next
STOP_TIMEOUT = 30.0


class HeadService:
    """Base class of a head service: override ``start`` and ``stop`` (both run on the head's loop).

    Blocking work (SQLite, threads, joins) belongs in ``asyncio.to_thread`` so that the
    scheduler, which shares the loop, keeps answering.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    stateful: ClassVar[bool] = False

    async def start(self, ctx: HeadContext) -> None:
        """Start the service; ``ctx.service(name)`` gives a required service's public object."""

    async def stop(self) -> None:
        """Stop the service. Safe to call when ``start`` failed or never ran."""

    async def all_started(self, ctx: HeadContext) -> None:
        """Called once every service of the head has started (in start order): work that may
        need services started after this one (the job queue's first dispatch) begins here."""

    @property
    def public(self) -> Any:
        """What the head hands out as ``head.services[self.name]`` (default: the service itself)."""
        return self


@dataclass
class HeadContext:
    """What a service gets from the head it runs in."""

    head: HeadNode
    settings: Settings
    state_dir: Path
    scheduler: Any
    cluster_manager: ClusterManager
    loop: LoopThread
    started: dict[str, HeadService] = field(default_factory=dict)

    def service(self, name: str) -> Any:
        """The public object of the already-started service ``name`` (name it in ``requires``)."""
        if name not in self.started:
            raise ClusterError(f"head service {name!r} is not running: list it in the service's requires")
        return self.started[name].public


def resolve_services(
    specs: Iterable[str | HeadService] | None,
    extras: Mapping[str, EntryPoint] | None = None,
) -> list[HeadService]:
    """New service objects for ``specs`` (names or objects), in start order.

    ``None``: the built-ins, then every service of the ``pycluster.head_services`` entry
    points. A name is looked up among the built-ins, then the entry points. Unknown
    names, duplicates, missing requirements and cycles raise :class:`ClusterError`.
    """
    specs = None if specs is None else list(specs)
    if extras is not None:
        found = dict(extras)
    elif specs is None or any(isinstance(s, str) and s not in BUILTIN_SERVICES for s in specs):
        found = _entry_points()
    else:  # only built-ins and objects: no need to read every installed package's entry points (~14 ms)
        found = {}
    if specs is None:
        specs = [*BUILTIN_SERVICES, *(n for n in found if n not in BUILTIN_SERVICES)]
    services = [spec if isinstance(spec, HeadService) else _load(spec, found) for spec in specs]
    return start_order(services)


def start_order(services: Sequence[HeadService]) -> list[HeadService]:
    """``services`` sorted so that each comes after what it requires (else in the given order)."""
    by_name: dict[str, HeadService] = {}
    for service in services:
        if not service.name:
            raise ClusterError(f"head service {service!r} has no name")
        if service.name in by_name:
            raise ClusterError(f"head service {service.name!r} is listed twice")
        by_name[service.name] = service
    for service in services:
        missing = [r for r in service.requires if r not in by_name]
        if missing:
            raise ClusterError(
                f"head service {service.name!r} requires {', '.join(map(repr, missing))}, "
                "which this head does not run: add it to services"
            )
    ordered: list[HeadService] = []
    placed: set[str] = set()
    visiting: list[str] = []

    def visit(service: HeadService) -> None:
        if service.name in placed:
            return
        if service.name in visiting:
            cycle = [*visiting[visiting.index(service.name) :], service.name]
            raise ClusterError(f"head services require each other in a cycle: {' -> '.join(cycle)}")
        visiting.append(service.name)
        for required in service.requires:
            visit(by_name[required])
        visiting.pop()
        placed.add(service.name)
        ordered.append(service)

    for service in services:
        visit(service)
    return ordered


async def start_services(services: Sequence[HeadService], ctx: HeadContext) -> None:
    """Start ``services`` in order; each started one is recorded in ``ctx.started`` at once,
    so that :func:`stop_services` stops exactly those when a later one fails. Then each one's
    ``all_started`` hook runs, in the same order."""
    for service in services:
        await service.start(ctx)
        ctx.started[service.name] = service
        ctx.head.services[service.name] = service.public
    for service in services:
        await service.all_started(ctx)


async def stop_services(ctx: HeadContext, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the started services in reverse order; one that fails is logged, the rest still stop."""
    for name in reversed(list(ctx.started)):
        service = ctx.started.pop(name)
        ctx.head.services.pop(name, None)
        try:
            await asyncio.wait_for(service.stop(), timeout)
        except Exception:  # one broken service must not keep the rest running
            _log.exception("stopping the %s service failed", name)


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load(name: str, extras: Mapping[str, EntryPoint]) -> HeadService:
    if name in BUILTIN_SERVICES:
        entry = EntryPoint(name=name, value=BUILTIN_SERVICES[name], group=ENTRY_POINT_GROUP)
    elif name in extras:
        entry = extras[name]
    else:
        known = sorted({*BUILTIN_SERVICES, *extras})
        raise ClusterError(f"unknown head service {name!r}; known: {', '.join(known)}")
    factory = entry.load()
    service = factory()
    if not isinstance(service, HeadService):
        raise ClusterError(f"head service {name!r} ({entry.value}) is not a HeadService")
    if service.name != name:
        raise ClusterError(f"head service {entry.value} is named {service.name!r}, not {name!r}")
    return service
