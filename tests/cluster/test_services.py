"""Head services: dependency order, reverse stop, errors before anything starts."""

from __future__ import annotations

import logging
import socket
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest

from pycluster import ClusterError, ClusterNotRunningError, HeadNode
from pycluster.cluster.services import (
    BUILTIN_SERVICES,
    ENTRY_POINT_GROUP,
    HeadContext,
    HeadService,
    resolve_services,
    start_order,
)


class Recorder(HeadService):
    """Records its start and stop in a shared list; ``fail_stop`` makes its stop raise."""

    def __init__(self, name: str, events: list[str], requires: tuple[str, ...] = (), fail_stop: bool = False):
        self.name = name  # type: ignore[misc]
        self.requires = requires  # type: ignore[misc]
        self.events = events
        self.fail_stop = fail_stop
        self.seen: dict[str, Any] = {}

    async def start(self, ctx: HeadContext) -> None:
        self.seen = {r: ctx.service(r) for r in self.requires}
        self.events.append(f"start {self.name}")

    async def stop(self) -> None:
        self.events.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError(f"{self.name} cannot stop")


class EntryRecorder(HeadService):
    """An extra service as another package would declare it in its entry points."""

    name: ClassVar[str] = "extra"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def small_head(tmp_path: Any, services: tuple[Any, ...], **options: Any) -> HeadNode:
    options = {"scheduler_port": 0, "dashboard_port": 0, **options}
    return HeadNode(
        "services",
        dask_dashboard_port=False,
        discovery_port=None,
        state_dir=str(tmp_path),
        services=services,
        **options,
    )


# ------------------------------------------------------------------ order, without a head
def test_start_order_puts_requirements_first_and_keeps_the_given_order_otherwise() -> None:
    events: list[str] = []
    c = Recorder("c", events, requires=("b",))
    b = Recorder("b", events, requires=("a",))
    a = Recorder("a", events)
    z = Recorder("z", events)
    assert [s.name for s in start_order([z, c, b, a])] == ["z", "a", "b", "c"]


def test_missing_requirement_and_cycle_are_named() -> None:
    events: list[str] = []
    with pytest.raises(ClusterError, match="'b' requires 'a'"):
        start_order([Recorder("b", events, requires=("a",))])
    cycle = [Recorder("a", events, requires=("c",)), Recorder("b", events, requires=("a",))]
    cycle.append(Recorder("c", events, requires=("b",)))
    with pytest.raises(ClusterError, match="cycle: a -> c -> b -> a"):
        start_order(cycle)
    with pytest.raises(ClusterError, match="listed twice"):
        start_order([Recorder("a", events), Recorder("a", events)])
    assert events == []


def test_builtins_keep_their_order_and_unknown_names_are_errors() -> None:
    names = [s.name for s in resolve_services(None, extras={})]
    assert names == list(BUILTIN_SERVICES)
    with pytest.raises(ClusterError, match="unknown head service 'nope'"):
        resolve_services(("nope",), extras={})
    with pytest.raises(ClusterError, match="'datasets' requires 'jobs'"):
        resolve_services(("datasets",), extras={})


def test_entry_point_extras_are_found_by_name_and_run_by_default() -> None:
    extra = EntryPoint("extra", f"{__name__}:EntryRecorder", ENTRY_POINT_GROUP)
    (service,) = resolve_services(("extra",), extras={"extra": extra})
    assert isinstance(service, EntryRecorder)
    assert [s.name for s in resolve_services(None, extras={"extra": extra})][-1] == "extra"
    misnamed = EntryPoint("other", f"{__name__}:EntryRecorder", ENTRY_POINT_GROUP)
    with pytest.raises(ClusterError, match="is named 'extra', not 'other'"):
        resolve_services(("other",), extras={"other": misnamed})


# ------------------------------------------------------------------ on a real head
def test_services_start_in_dependency_order_and_stop_in_reverse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []
    c = Recorder("c", events, requires=("b",))
    b = Recorder("b", events, requires=("a",))
    a = Recorder("a", events)
    head = small_head(tmp_path, (c, b, a))
    with head:
        head.start()
        assert events == ["start a", "start b", "start c"]
        assert head.services == {"a": a, "b": b, "c": c}
        assert b.seen == {"a": a} and c.seen == {"b": b}
    assert events[3:] == ["stop c", "stop b", "stop a"]
    assert head.services == {} and not head.is_running


@pytest.mark.parametrize("kind", ["missing", "cycle"])
def test_bad_requirements_fail_before_anything_starts(tmp_path, kind: str) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []
    if kind == "missing":
        services: tuple[Any, ...] = ("web", Recorder("b", events, requires=("a",)))
        pattern = "'b' requires 'a'"
    else:
        services = ("web", Recorder("a", events, requires=("b",)), Recorder("b", events, requires=("a",)))
        pattern = "cycle"
    scheduler_port, dashboard_port = free_port(), free_port()
    head = small_head(tmp_path, services, scheduler_port=scheduler_port, dashboard_port=dashboard_port)
    with pytest.raises(ClusterError, match=pattern):
        head.start()
    assert events == [] and not head.is_running and head.services == {}
    assert port_is_free(scheduler_port) and port_is_free(dashboard_port)


def test_a_service_that_fails_to_stop_does_not_keep_the_others_running(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []
    services = (Recorder("a", events), Recorder("b", events, fail_stop=True), Recorder("c", events))
    head = small_head(tmp_path, services)
    head.start()
    with caplog.at_level(logging.ERROR, logger="pycluster.cluster.services"):
        head.shutdown()
    assert events[3:] == ["stop c", "stop b", "stop a"]
    assert "stopping the b service failed" in caplog.text
    assert not head.is_running and head.services == {}


def test_a_failing_start_stops_what_started(tmp_path) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []

    class Broken(Recorder):
        async def start(self, ctx: HeadContext) -> None:
            raise RuntimeError("cannot start")

    head = small_head(tmp_path, (Recorder("a", events), Broken("b", events)))
    with pytest.raises(RuntimeError, match="cannot start"):
        head.start()
    assert events == ["start a", "stop a"]
    assert not head.is_running


def test_extra_service_object_beside_builtins_and_typed_accessors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []
    extra = Recorder("extra", events, requires=("datasets",))
    head = small_head(tmp_path, ("jobs", "datasets", extra))
    with pytest.raises(ClusterNotRunningError, match="call start"):
        head.jobs  # noqa: B018
    with head:
        head.start()
        assert extra.seen == {"datasets": head.datasets}
        assert head.services["jobs"] is head.jobs
        # the registry is what the queue's dataset operations read
        assert head.jobs.context.services["datasets"] is head.datasets
        for missing, name in [("llm", "llm"), ("metrics", "metrics"), ("gpus", "gpu")]:
            with pytest.raises(ClusterNotRunningError, match=f"runs no .*'{name}' service"):
                getattr(head, missing)
    assert events == ["start extra", "stop extra"]
