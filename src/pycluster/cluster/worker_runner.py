"""Run Dask Nanny processes in *this* process until told to stop.

This is what ``pycluster worker`` does. Python callers never run it in their own
process: they start ``pycluster worker`` as a fresh subprocess (see
``worker_process.py``), so a user's guard-less ``__main__`` is never re-imported
by a spawned worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from distributed import Nanny

from ..errors import AuthenticationError, SchedulerUnreachableError, WorkerStartError
from .diagnostics import WorkerWithoutHTTP
from .ports import wait_until_reachable
from .security import scheduler_security
from .worker_options import WorkerOptions

if TYPE_CHECKING:
    import psutil

__all__ = ["READY_MARKER", "run_workers"]

# The line a worker process prints once all its workers have joined; its parent waits for it.
READY_MARKER = "PYCLUSTER-WORKERS-READY"
# How often a worker process checks that its parent and its Nannies are alive (a getppid()
# call and a status read: cheap, so an orphan or a closed cluster is noticed quickly)
WATCH_INTERVAL = 0.1


def run_workers(
    options: WorkerOptions,
    watch_pid: int | None = None,
    announce: Callable[[str], None] = print,
) -> int:
    """Start ``options.n_workers`` Nannies, announce readiness, block until a signal; exit code."""
    try:
        wait_until_reachable(options.scheduler_address, options.connect_timeout)
        security = scheduler_security(options.scheduler_address, options.auth_key)
    except (SchedulerUnreachableError, AuthenticationError) as exc:
        announce(f"error: {exc}")
        return 2
    code = asyncio.run(_serve(options, watch_pid, announce, security))
    if watch_pid is not None:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End a worker process that a head started, skipping the interpreter's teardown.

    Its Nannies are closed and their worker processes joined; all that is left is
    unloading Dask and friends, which took 0.3-0.5 s per process on a busy machine,
    time its head spends waiting in ``shutdown()``.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _serve(
    options: WorkerOptions, watch_pid: int | None, announce: Callable[[str], None], security: Any
) -> int:
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    nannies = [_make_nanny(options, name, i, security) for i, name in enumerate(options.worker_names())]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(nanny.start() for nanny in nannies)),
            timeout=options.connect_timeout + 60,
        )
    except Exception as exc:
        announce(f"error: {WorkerStartError(f'workers failed to start: {exc!r}')}")
        await _close(nannies)
        return 3
    ready = {"pid": os.getpid(), "workers": [n.worker_address for n in nannies]}
    announce(f"{READY_MARKER} {json.dumps(ready)}")
    sys.stdout.flush()
    watcher = asyncio.create_task(_watch(nannies, watch_pid, stop))
    await stop.wait()
    watcher.cancel()
    await _close(nannies)
    return 0


def _make_nanny(options: WorkerOptions, name: str | None, index: int, security: Any) -> Nanny:
    return Nanny(
        options.scheduler_address,
        security=security,
        nthreads=options.effective_threads(),
        memory_limit=options.memory_limit,
        resources=options.resources or None,
        name=name,
        host=options.host,
        death_timeout=options.death_timeout,
        silence_logs=False,
        env=options.worker_env(index),  # pins this worker's GPUs (set again if the Nanny restarts it)
        # Dask's workers serve /metrics, /health and static files over HTTP, without
        # authentication, on every interface of a network worker; pycluster reads none of it
        worker_class=WorkerWithoutHTTP,
    )


async def _watch(nannies: list[Nanny], watch_pid: int | None, stop: asyncio.Event) -> None:
    """Stop when the parent dies (no orphans on any OS) or when every Nanny has closed
    (the scheduler closed them, or they failed)."""
    parent = _process_or_none(watch_pid) if watch_pid else None
    ppid = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(WATCH_INTERVAL)
        if watch_pid and not _parent_alive(parent, watch_pid, ppid):
            stop.set()
        if all(n.status.name in {"closed", "closing", "failed"} for n in nannies):
            stop.set()


def _parent_alive(parent: Any, watch_pid: int, ppid: int) -> bool:
    # a dead parent may linger as a zombie (psutil calls it running) until reaped, which
    # a child subreaper may do late; but its children are reparented the moment it dies
    if watch_pid == ppid and os.name != "nt" and os.getppid() != ppid:
        return False
    try:
        return parent is not None and parent.is_running() and parent.status() != "zombie"
    except Exception:  # psutil.Error: it is gone
        return False


def _process_or_none(pid: int) -> psutil.Process | None:
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


async def _close(nannies: list[Nanny]) -> None:
    await asyncio.gather(*(n.close(timeout=10) for n in nannies), return_exceptions=True)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]  # SIGBREAK: CTRL_BREAK_EVENT on Windows
    for sig in (getattr(signal, n) for n in names if hasattr(signal, n)):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            # Windows' event loops have no add_signal_handler
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
