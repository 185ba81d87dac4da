"""Method calls on a replica actor, sent straight to its worker when the head can reach it.

A ``distributed.Actor`` proxies each call through the scheduler unless its client was made
with ``direct_to_workers=True``: two TCP hops instead of one, and the scheduler's event
loop busy with every token request. On a head node the scheduler runs in this very process,
so every worker it talks to can be reached from here directly; this module does that
with the worker's own ``actor_execute`` handler (what the actor proxy ends up calling).
Measured on the tiny model: 0.87 -> 0.44 ms a call; 32 concurrent calls 22 -> 12.5 ms.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..cluster.loop import call_on

__all__ = ["ReplicaCall", "call_replica"]


class ReplicaCall(Protocol):
    """What a call gives back: ``concurrent.futures.Future`` and ``ActorFuture`` both fit."""

    def result(self, timeout: float | None = None) -> Any: ...


def call_replica(client: Any, actor: Any, address: str, method: str, *args: Any, direct: bool) -> ReplicaCall:
    """Call ``actor.method(*args)`` on the worker at ``address``; ``.result(timeout)`` waits."""
    if not direct:
        proxied: ReplicaCall = getattr(actor, method)(*args)
        return proxied
    coro = _execute(client, actor.key, address, method, args)
    return call_on(client.loop.asyncio_loop, coro)


async def _execute(client: Any, key: str, address: str, method: str, args: tuple[Any, ...]) -> Any:
    from distributed.protocol.serialize import Serialize

    # Serialize (what distributed.protocol.to_serialize names) wraps an argument to send as is
    wrapped = [Serialize(a) for a in args]  # type: ignore[no-untyped-call,unused-ignore]
    response = await client.rpc(address).actor_execute(function=method, actor=key, args=wrapped, kwargs={})
    if response.get("status") != "OK":
        raise response["exception"]
    return response["result"]
