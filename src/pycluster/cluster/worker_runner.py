"""Run Dask workers in *this* process until told to stop.

This is what ``pycluster worker`` does: each worker under a Nanny (which runs the worker
in a process of its own and restarts it if it dies), or, with ``--no-nanny``, the workers
themselves. Python callers never run it in their own process: they start a fresh
subprocess (see ``worker_process.py``), so a user's guard-less ``__main__`` is never
re-imported by a spawned worker. A head's local workers run without Nannies, one per
subprocess: the head's :class:`~pycluster.cluster.local_workers.LocalWorkers` supervises
them instead, which saves an interpreter per worker (start time and memory).
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

from distributed import Nanny, Worker
from distributed.core import Server

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
# The exit code of a worker process whose worker the scheduler removed (Client.restart()
# does that to workers without a Nanny, and so does a scheduler that lost their heartbeats):
# the worker is meant to come back, so whoever supervises the process starts it again
RESTART_EXIT_CODE = 75
# Close reasons that mean "come back" (see RESTART_EXIT_CODE)
_RESTART_REASONS = frozenset({"scheduler-remove-worker"})
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
    make: Callable[[WorkerOptions, str | None, int, Any], Server]
    make = _make_nanny if options.nanny else _make_worker
    names = options.worker_names()
    servers: list[Server] = [make(options, name, i, security) for i, name in enumerate(names)]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(server.start() for server in servers)),
            timeout=options.connect_timeout + 60,
        )
    except Exception as exc:
        announce(f"error: {WorkerStartError(f'workers failed to start: {exc!r}')}")
        await _close(servers)
        return 3
    ready = {
        "pid": os.getpid(),
        "workers": [_worker_address(s) for s in servers],
        "memory_limit": [_memory_limit(s) for s in servers],
    }
    announce(f"{READY_MARKER} {json.dumps(ready)}")
    sys.stdout.flush()
    watcher = asyncio.create_task(_watch(servers, watch_pid, stop))
    await stop.wait()
    watcher.cancel()
    reasons = {getattr(s, "close_reason", None) for s in servers}
    await _close(servers)
    return RESTART_EXIT_CODE if reasons & _RESTART_REASONS else 0


class LocalWorker(WorkerWithoutHTTP):
    """A worker that runs without a Nanny and remembers why it closed (see RESTART_EXIT_CODE)."""

    close_reason: str | None = None

    async def close(self, *args: Any, **kwargs: Any) -> Any:
        if self.close_reason is None:
            self.close_reason = str(kwargs.get("reason", "worker-close"))
        return await super().close(*args, **kwargs)


def _worker_address(server: Server) -> str:
    return str(server.worker_address if isinstance(server, Nanny) else server.address)


def _memory_limit(server: Server) -> int | None:
    """The worker's memory limit in bytes (None: no limit); a Nanny enforces its own."""
    if isinstance(server, Nanny):
        return None
    limit = server.memory_manager.memory_limit  # type: ignore[attr-defined]
    return int(limit) if limit else None


def _make_worker(options: WorkerOptions, name: str | None, index: int, security: Any) -> LocalWorker:
    return LocalWorker(
        options.scheduler_address,
        security=security,
        nthreads=options.effective_threads(),
        memory_limit=options.memory_limit,
        resources=options.resources or None,
        name=name,
        host=options.host,
        death_timeout=options.death_timeout,
    )


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


async def _watch(servers: list[Server], watch_pid: int | None, stop: asyncio.Event) -> None:
    """Stop when the parent dies (no orphans on any OS) or when every Nanny or worker has
    closed (the scheduler closed them, or they failed)."""
    parent = _process_or_none(watch_pid) if watch_pid else None
    ppid = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(WATCH_INTERVAL)
        if watch_pid and not _parent_alive(parent, watch_pid, ppid):
            stop.set()
        if all(s.status.name in {"closed", "closing", "failed"} for s in servers):
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


async def _close(servers: list[Server]) -> None:
    await asyncio.gather(*(_close_one(s) for s in servers), return_exceptions=True)


async def _close_one(server: Server) -> None:
    if isinstance(server, Nanny):
        await server.close(timeout=10)
    elif isinstance(server, Worker):
        # a task still running is not waited for (the process ends right after): the head's
        # shutdown must not wait for a long task, and the scheduler reruns it elsewhere
        await server.close(reason="worker process stopping", executor_wait=False)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]  # SIGBREAK: CTRL_BREAK_EVENT on Windows
    for sig in (getattr(signal, n) for n in names if hasattr(signal, n)):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            # Windows' event loops have no add_signal_handler
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
