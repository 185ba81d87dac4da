"""The scheduler's worker-ttl check, run so that a silent worker is dropped at its TTL.

Dask's own check (``Scheduler.check_worker_ttl``) misses the TTL twice over for a worker cut off
by the network: it runs once per TTL (a worker silent just after a check lives up to twice its
TTL), and it restarts a silent worker through its Nanny, waiting up to 30 s for a Nanny it cannot
reach either before it removes the worker. A 20 s TTL meant 30-60 s in a partition; and the
worker it then removed was told to close for good once the network healed.

This check runs every second. A silent worker's Nanny, if it answers within ``NANNY_WAIT``, kills
the worker and starts it again (a hung worker process: as Dask does). If the Nanny is silent too
(the machine is cut off), the worker is removed at once (its tasks run elsewhere) and its
connection closed, without the "close" message Dask sends: once the network heals it finds its
connection broken and ``pycluster worker`` joins again (within its ``--reconnect-timeout``)
instead of exiting. A worker without a Nanny is removed and told to close, as Dask does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["CHECK_INTERVAL", "NANNY_WAIT", "check_worker_ttl", "check_worker_ttl_often"]

_log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0
NANNY_WAIT = 1.0  # a reachable Nanny answers in milliseconds (a kill it started goes on anyway)


def check_worker_ttl_often(scheduler: Any) -> None:
    """Replace the not yet started ``scheduler``'s TTL check with :func:`check_worker_ttl` every
    ``CHECK_INTERVAL`` (or every TTL, if shorter); nothing when its TTL is off. Periodic callbacks
    start and stop with the scheduler."""
    from tornado.ioloop import PeriodicCallback

    if not scheduler.worker_ttl or "worker-ttl" not in scheduler.periodic_callbacks:
        return
    every = min(float(scheduler.worker_ttl), CHECK_INTERVAL)

    async def check() -> None:
        await check_worker_ttl(scheduler)

    scheduler.periodic_callbacks["worker-ttl"] = PeriodicCallback(check, every * 1000)


async def check_worker_ttl(scheduler: Any) -> list[str]:
    """Restart or remove every worker not heard from for longer than the TTL; their addresses."""
    from distributed.metrics import time
    from distributed.scheduler import heartbeat_interval

    now = time()  # Dask's clock, the one last_seen is kept by
    # Dask's floor: never fewer than 10 heartbeats (large clusters heartbeat less often)
    ttl = max(float(scheduler.worker_ttl), 10 * heartbeat_interval(len(scheduler.workers)))
    silent = [address for address, ws in scheduler.workers.items() if now - ws.last_seen > ttl]
    if not silent:
        return silent
    for address in silent:
        _log.warning(
            "worker %s sent no heartbeat for %.1fs (worker-ttl %.0fs): restarting or removing it",
            address,
            now - scheduler.workers[address].last_seen,
            ttl,
        )
    scheduler.log_event("scheduler", {"action": "worker-ttl-timed-out", "workers": silent, "ttl": ttl})
    stimulus_id = f"check-worker-ttl-{now}"
    await asyncio.gather(*(_restart_or_remove(scheduler, address, stimulus_id) for address in silent))
    return silent


async def _restart_or_remove(scheduler: Any, address: str, stimulus_id: str) -> None:
    ws = scheduler.workers.get(address)
    if ws is None:  # gone meanwhile
        return
    if not ws.nanny:
        # nothing here can restart it: told to close, as Dask does (``pycluster worker`` then
        # exits RESTART_EXIT_CODE and its supervisor, for local workers the head, starts it again)
        await scheduler.remove_worker(address, stimulus_id=stimulus_id, close=True)
        return
    from distributed.core import rpc

    try:
        async with rpc(ws.nanny, connection_args=scheduler.connection_args) as nanny:
            await asyncio.wait_for(nanny.kill(reason=stimulus_id), NANNY_WAIT)
        # killed: the scheduler forgets the worker when its connection closes, and the Nanny
        # starts a new one
        return
    except Exception as exc:  # unreachable (OSError, TimeoutError) or failed: remove it here
        _log.info("the Nanny of silent worker %s did not restart it (%r): removing it", address, exc)
    # its Nanny is silent too: the machine is cut off (or stopped). Not told to close: once it
    # is back it finds its connection closed and joins again (``--reconnect-timeout``)
    stream = scheduler.stream_comms.get(address)
    try:
        await scheduler.remove_worker(address, stimulus_id=stimulus_id, close=False)
    finally:
        if stream is not None:
            stream.abort()
