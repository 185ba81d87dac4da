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
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from distributed import Nanny, Worker
from distributed.core import Server

from ..errors import AuthenticationError, SchedulerUnreachableError, WorkerStartError
from .diagnostics import WorkerWithoutHTTP
from .ports import wait_until_reachable
from .scheduler_probe import HTTP_PORT_HINT, await_scheduler, diagnose_port
from .security import NodeTLS, cluster_security, scheduler_security
from .worker_options import WorkerOptions

if TYPE_CHECKING:
    import psutil

__all__ = ["HEAD_LOST_EXIT_CODE", "READY_MARKER", "RESTART_EXIT_CODE", "run_workers"]

# The line a worker process prints once all its workers have joined; its parent waits for it.
READY_MARKER = "PYCLUSTER-WORKERS-READY"
# The exit code of a worker process whose worker the scheduler removed (Client.restart()
# does that to workers without a Nanny, and so does a scheduler that lost their heartbeats):
# the worker is meant to come back, so whoever supervises the process starts it again
RESTART_EXIT_CODE = 75
# Close reasons that mean "come back" (see RESTART_EXIT_CODE). "worker-heartbeat-missing": the
# scheduler answered but no longer knows the worker (it removed it): when a removal races the
# worker's next heartbeat, that reason arrives before "scheduler-remove-worker"
_RESTART_REASONS = frozenset({"scheduler-remove-worker", "worker-heartbeat-missing"})
# Close reasons that mean "the head is gone" (killed, restarted, its machine down or out of
# reach; "scheduler-close": it is shutting down, perhaps to restart): a worker with a
# reconnect timeout waits for it to come back and joins it again
HEAD_LOST_REASONS = frozenset(
    {
        "worker-handle-scheduler-connection-broken",
        "worker-heartbeat-missing",
        "worker-heartbeat-error",
        "scheduler-close",
    }
)
# The exit code when the head did not come back within the reconnect timeout (sysexits'
# EX_UNAVAILABLE): not 0, so a supervisor (systemd Restart=on-failure) starts us again
HEAD_LOST_EXIT_CODE = 69
# While waiting for a lost head: each handshake attempt's timeout, and the pause between them
_REJOIN_PROBE = 5.0
_REJOIN_PAUSE = 1.0
# How often a worker process checks that its parent and its Nannies are alive (a getppid()
# call and a status read: cheap, so an orphan or a closed cluster is noticed quickly)
WATCH_INTERVAL = 0.1


def run_workers(
    options: WorkerOptions,
    watch_pid: int | None = None,
    announce: Callable[[str], None] = print,
    trusted: bool = False,
    tls: NodeTLS | None = None,
) -> int:
    """Start ``options.n_workers`` Nannies, announce readiness, block until a signal; exit code.

    ``trusted``: the scheduler is the head that started this process with its own key (a
    local worker), so its key needs no probe first: one TLS handshake less at start-up.
    ``tls``: the leaf that head issued for this process (trusted only), so the key's CA
    need not be derived here.
    """
    deadline = time.monotonic() + options.connect_timeout
    try:
        wait_until_reachable(options.scheduler_address, options.connect_timeout)
        if trusted and tls is not None:
            security = tls.security()
        elif trusted:
            security = cluster_security(options.auth_key) if options.auth_key else None
        else:
            security = scheduler_security(options.scheduler_address, options.auth_key)
    except SchedulerUnreachableError as exc:
        announce(f"error: {exc}")
        return 1  # a runtime failure (2 is for usage errors, as click exits)
    except AuthenticationError as exc:
        # the head's HTTP port given by mistake also fails a TLS handshake: say which it is
        http = diagnose_port(options.scheduler_address) == HTTP_PORT_HINT
        announce(f"error: {options.scheduler_address}: {HTTP_PORT_HINT}" if http else f"error: {exc}")
        return 1
    code = asyncio.run(_serve(options, watch_pid, announce, security, deadline))
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
    options: WorkerOptions,
    watch_pid: int | None,
    announce: Callable[[str], None],
    security: Any,
    deadline: float,
) -> int:
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    try:
        # the port answered TCP; now the Dask handshake, within what is left of connect_timeout
        left = max(0.5, deadline - time.monotonic())
        await await_scheduler(options.scheduler_address, security, left, options.connect_timeout)
    except SchedulerUnreachableError as exc:
        announce(f"error: {exc}")
        return 1
    servers = await _start(options, security)
    if isinstance(servers, Exception):
        announce(f"error: {WorkerStartError(f'workers failed to start: {servers!r}')}")
        return 1
    announce(f"{READY_MARKER} {json.dumps(_ready(servers))}")
    sys.stdout.flush()
    while True:
        reasons = await _run(servers, watch_pid, stop)
        await _close(servers)
        if stop.is_set() or not (options.reconnect_timeout and reasons & HEAD_LOST_REASONS):
            return RESTART_EXIT_CODE if reasons & _RESTART_REASONS else 0
        # the head is gone (killed, restarted, its machine rebooted): wait for it to come back
        lost_at = time.monotonic()
        announce(
            f"lost the scheduler at {options.scheduler_address} ({', '.join(sorted(reasons))}); "
            f"reconnecting for up to {options.reconnect_timeout:g}s (--reconnect-timeout)"
        )
        rejoined = await _rejoin(options, security, stop, lost_at + options.reconnect_timeout)
        if stop.is_set():
            if isinstance(rejoined, list):
                await _close(rejoined)
            return 0
        if not isinstance(rejoined, list):
            gave_up = SchedulerUnreachableError(
                f"gave up on the scheduler at {options.scheduler_address}: it did not come back within "
                f"{options.reconnect_timeout:g}s (--reconnect-timeout); last error: {rejoined}"
            )
            announce(f"error: {gave_up}")
            return HEAD_LOST_EXIT_CODE
        servers = rejoined
        announce(
            f"rejoined the scheduler at {options.scheduler_address} after {time.monotonic() - lost_at:.1f}s: "
            f"{json.dumps(_ready(servers))}"
        )
        sys.stdout.flush()


async def _start(options: WorkerOptions, security: Any) -> list[Server] | Exception:
    """Start the workers (or their Nannies); the servers, or why they failed (all closed then)."""
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
        await _close(servers)
        return exc
    return servers


def _ready(servers: list[Server]) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "workers": [_worker_address(s) for s in servers],
        "memory_limit": [_memory_limit(s) for s in servers],
    }


async def _run(servers: list[Server], watch_pid: int | None, stop: asyncio.Event) -> set[str]:
    """Serve until a signal, the parent's end or every server's close; why they closed."""
    watcher = asyncio.create_task(_watch(servers, watch_pid, stop))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({watcher, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (watcher, stopped):
        task.cancel()
    return {str(r) for r in (getattr(s, "close_reason", None) for s in servers) if r}


async def _rejoin(
    options: WorkerOptions, security: Any, stop: asyncio.Event, deadline: float
) -> list[Server] | str:
    """Wait for the scheduler to answer again, then start the workers anew (as at start).

    Dask's own connect does the waiting (it retries with backoff within its timeout); a
    start that fails (the head went away again) goes back to waiting. Returns the started
    servers, or the last error once ``deadline`` (monotonic) passed or ``stop`` was set.
    """
    last_error = "no answer"
    while not stop.is_set() and time.monotonic() < deadline:
        attempt = min(_REJOIN_PROBE, deadline - time.monotonic())
        probe = asyncio.create_task(await_scheduler(options.scheduler_address, security, max(0.1, attempt)))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({probe, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not probe.done():
            probe.cancel()
            break
        if probe.exception() is not None:
            last_error = str(probe.exception())
            await asyncio.sleep(min(_REJOIN_PAUSE, max(0.0, deadline - time.monotonic())))
            continue
        servers = await _start(options, security)
        if isinstance(servers, list):
            return servers
        last_error = f"workers failed to start: {servers!r}"
    return last_error


class LocalWorker(WorkerWithoutHTTP):
    """A worker that runs without a Nanny and remembers why it closed (see RESTART_EXIT_CODE)."""

    close_reason: str | None = None

    async def close(self, *args: Any, **kwargs: Any) -> Any:
        if self.close_reason is None:
            self.close_reason = str(kwargs.get("reason", "worker-close"))
        return await super().close(*args, **kwargs)


class ReportingNanny(Nanny):
    """A Nanny that remembers why its worker closed it (see HEAD_LOST_REASONS).

    A worker that closes on its own (its scheduler connection broke, or the scheduler told
    it to close) first tells its Nanny not to start it again, with its reason.
    """

    close_reason: str | None = None

    def close_gracefully(self, reason: str = "nanny-close-gracefully") -> None:
        if self.close_reason is None:
            self.close_reason = reason
        super().close_gracefully(reason=reason)


def _worker_address(server: Server) -> str:
    return str(server.worker_address if isinstance(server, Nanny) else server.address)


def _memory_limit(server: Server) -> int | None:
    """The worker's memory limit in bytes (None: no limit); a Nanny enforces its own."""
    if isinstance(server, Nanny):
        return None
    limit = server.memory_manager.memory_limit  # type: ignore[attr-defined]
    return int(limit) if limit else None


def _common(options: WorkerOptions, name: str | None, security: Any) -> dict[str, Any]:
    """What a worker and a Nanny are both given."""
    return {
        "security": security,
        "nthreads": options.effective_threads(),
        "memory_limit": options.memory_limit,
        "resources": options.resources or None,
        "name": name,
        "host": options.host,
        "death_timeout": options.death_timeout,
    }


def _make_worker(options: WorkerOptions, name: str | None, index: int, security: Any) -> LocalWorker:
    return LocalWorker(options.scheduler_address, **_common(options, name, security))


def _make_nanny(options: WorkerOptions, name: str | None, index: int, security: Any) -> Nanny:
    return ReportingNanny(
        options.scheduler_address,
        **_common(options, name, security),
        silence_logs=False,
        env=options.worker_env(index),  # pins this worker's GPUs (set again if the Nanny restarts it)
        # Dask's workers serve /metrics, /health and static files over HTTP, without
        # authentication, on every interface of a network worker; pycluster reads none of it
        worker_class=WorkerWithoutHTTP,
    )


async def _watch(servers: list[Server], watch_pid: int | None, stop: asyncio.Event) -> None:
    """Stop when the parent dies (no orphans on any OS); return when every Nanny or worker
    has closed (the scheduler closed them, they lost it, or they failed)."""
    parent = _process_or_none(watch_pid) if watch_pid else None
    ppid = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(WATCH_INTERVAL)
        if watch_pid and not _parent_alive(parent, watch_pid, ppid):
            stop.set()
        if all(s.status.name in {"closed", "closing", "failed"} for s in servers):
            return


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
