"""LocalWorkers: the worker processes one cluster started on this machine, supervised.

A head's local workers (and those ``ClusterManager.add_worker`` starts) are one Dask
worker per subprocess, with no Nanny process in between: this object does a Nanny's
job for all of them from one thread. It starts them together (their interpreter
start-ups overlap), starts again one that dies (a crash, ``kill -9``, the kernel's
out-of-memory killer, ``Client.restart()``), ends one whose memory passes Dask's
``distributed.worker.memory.terminate`` fraction of its limit (so a runaway task kills
its worker, not the machine), and stops them all at once.

A worker that closes on purpose (exit code 0: retired, or closed by the scheduler) is
not started again. One that keeps dying (5 times within a minute) is left dead, with
an error in the log naming its log file.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import dask.config
import psutil

from .memory_kills import MemoryKill, MemoryKills
from .worker_options import WorkerOptions
from .worker_process import WorkerProcess

__all__ = ["LocalWorkers"]

_log = logging.getLogger(__name__)

# How often the supervisor looks at its processes (exit codes and memory): as often as a
# Nanny checks its worker's memory, so a runaway task is stopped as early as Dask would
SUPERVISE_INTERVAL = 0.1
# A worker that dies this often within RESTART_WINDOW seconds is not started again
MAX_RESTARTS = 5
TERMINATE_KEY = "distributed.worker.memory.terminate"
RESTART_WINDOW = 60.0


class LocalWorkers:
    """Worker subprocesses on this machine: start, scale, supervise, stop.

    ``owner`` names the cluster in log lines and process titles.
    """

    def __init__(self, owner: str = "pycluster") -> None:
        self.owner = owner
        self._processes: list[WorkerProcess] = []
        self._lock = threading.RLock()
        self._log_dir: Path | None = None
        self._supervisor: threading.Thread | None = None
        self._closing = threading.Event()
        self._deaths: dict[str, deque[float]] = {}
        self.restarts = 0  # how many times a dead worker was started again (or tried to be)
        # the workers ended for their memory use, so a task's KilledWorker can say why
        self.memory_kills = MemoryKills()

    # ----------------------------------------------------------------- start
    def add(self, options: WorkerOptions, timeout: float) -> list[WorkerProcess]:
        """Start ``options.n_workers`` worker processes and wait until all have joined.

        If any fails to start, all of these are stopped again and its error is raised.
        """
        # each process hosts one worker, so share the cores among all of them here
        options = replace(options, threads_per_worker=options.effective_threads())
        processes = [WorkerProcess(_single(options, i), self._logs()) for i in range(options.n_workers)]
        if not processes:
            return []
        _log.debug("starting %d local worker processes, logs in %s", len(processes), self._logs())
        self._closing.clear()
        with self._lock:  # registered first: a stop() meanwhile stops them too
            self._processes.extend(processes)
        # together, so their interpreter start-ups overlap
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            starts = [pool.submit(p.start, timeout) for p in processes]
            errors = [e for e in (f.exception() for f in starts) if e is not None]
        if errors:
            self._forget(processes)
            _stop_all(processes)
            raise errors[0]
        self._supervise()
        return processes

    @property
    def processes(self) -> list[WorkerProcess]:
        """The worker processes running now (or being started again)."""
        with self._lock:
            return list(self._processes)

    @property
    def addresses(self) -> list[str]:
        return list(itertools.chain.from_iterable(p.worker_addresses for p in self.processes))

    # ----------------------------------------------------------------- stop
    def retire(self, processes: list[WorkerProcess], retire_workers: Callable[[list[str]], object]) -> None:
        """Stop ``processes`` after ``retire_workers(addresses)`` moved their data elsewhere."""
        self._forget(processes)  # first: the supervisor must not start them again
        addresses = [a for p in processes for a in p.worker_addresses]
        if addresses:
            with contextlib.suppress(Exception):  # the processes stop either way
                retire_workers(addresses)
        _stop_all(processes)

    def signal_stop(self) -> None:
        """Ask every process to close its worker, without waiting (see :meth:`stop`)."""
        self._closing.set()
        for p in self.processes:
            p.signal_stop()

    def stop(self) -> None:
        """Stop every process (killing those that do not close in time). Safe to call twice."""
        self.signal_stop()
        with self._lock:
            processes, self._processes = self._processes, []
        if processes:
            _stop_all(processes)
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=10)
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    # ----------------------------------------------------------------- supervise
    def _supervise(self) -> None:
        with self._lock:
            if self._supervisor is None or not self._supervisor.is_alive():
                self._supervisor = threading.Thread(
                    target=self._watch, name=f"pycluster-local-workers-{self.owner}", daemon=True
                )
                self._supervisor.start()

    def _watch(self) -> None:
        terminate = _terminate_fraction()
        while not self._closing.wait(SUPERVISE_INTERVAL):
            for process in self.processes:
                code = process.returncode
                if code is None:
                    if process.worker_addresses:  # started: its memory counts now
                        self._check_memory(process, terminate)
                elif not self._closing.is_set():
                    self._on_exit(process, code)

    def _check_memory(self, process: WorkerProcess, terminate: float | None) -> None:
        limit = process.memory_limits[0] if process.memory_limits else None
        if TERMINATE_KEY in process.options.dask_config:  # these workers' own setting
            terminate = _fraction(process.options.dask_config[TERMINATE_KEY])
        if not terminate or not limit:
            return
        used = _rss(process.pid)
        if used > terminate * limit:
            _log.warning(
                "local worker %s uses %.0f MiB, over %.0f%% of its %.0f MiB memory limit: "
                "ending it (it is started again; its tasks are retried elsewhere)",
                process.worker_addresses[0],
                used / 2**20,
                terminate * 100,
                limit / 2**20,
            )
            kill = MemoryKill(process.worker_addresses[0], process.options.name, used, int(limit), terminate)
            self.memory_kills.record(kill)
            process.kill()

    def _on_exit(self, process: WorkerProcess, code: int) -> None:
        self._forget([process])
        name = process.options.name or (process.worker_addresses or ["?"])[0]
        if code == 0:
            _log.info("local worker %s closed (exit code 0); not starting it again", name)
            return
        deaths = self._deaths.setdefault(name, deque(maxlen=MAX_RESTARTS))
        deaths.append(time.monotonic())
        if len(deaths) == MAX_RESTARTS and deaths[-1] - deaths[0] < RESTART_WINDOW:
            _log.error(
                "local worker %s died %d times within %.0f s: not starting it again. Its log: %s",
                name,
                MAX_RESTARTS,
                RESTART_WINDOW,
                process.log_path,
            )
            return
        _log.warning("local worker %s exited with code %s; starting it again", name, code)
        replacement = WorkerProcess(process.options, self._logs())
        with self._lock:
            if self._closing.is_set():
                return
            self._processes.append(replacement)
            self.restarts += 1
        try:
            replacement.start(timeout=60)
            _log.info("local worker %s started again (restart %d)", name, self.restarts)
        except Exception as exc:
            self._forget([replacement])
            if not self._closing.is_set():
                _log.error("local worker %s could not be started again: %s", name, exc)

    # ----------------------------------------------------------------- helpers
    def _forget(self, processes: list[WorkerProcess]) -> None:
        with self._lock:
            self._processes = [p for p in self._processes if p not in processes]

    def _logs(self) -> Path:
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="pycluster-workers-"))
        return self._log_dir

    def __repr__(self) -> str:
        return f"<LocalWorkers {self.owner!r} processes={len(self.processes)}>"


def _single(options: WorkerOptions, index: int) -> WorkerOptions:
    name = options.worker_names()[index]
    return replace(options, n_workers=1, name=name)


def _stop_all(processes: list[WorkerProcess]) -> None:
    for p in processes:  # all asked first, so they close together
        p.signal_stop()
    try:
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            list(pool.map(lambda p: p.stop(), processes))
    except RuntimeError:
        # at interpreter exit (atexit) no pool thread may start any more: one by one then
        for p in processes:
            p.stop()


def _terminate_fraction() -> float | None:
    """Dask's ``distributed.worker.memory.terminate`` (0.95 by default; False turns it off)."""
    return _fraction(dask.config.get(TERMINATE_KEY, default=0.95))


def _fraction(value: object) -> float | None:
    if isinstance(value, str):  # as it travels in dask_config ("False", "0.9")
        value = None if value in {"False", "None", "0"} else float(value)
    return float(value) if value else None  # type: ignore[arg-type]


def _rss(pid: int | None) -> int:
    """The worker process's resident memory, as a Nanny measures it (the process, not its
    children: listing children scans every process of the machine, ten times a second, and
    the GIL time it took showed in the head's task throughput)."""
    if pid is None:
        return 0
    try:
        return int(_process(pid).memory_info().rss)
    except psutil.Error:
        return 0


_processes: dict[int, psutil.Process] = {}


def _process(pid: int) -> psutil.Process:
    process = _processes.get(pid)
    if process is None or not process.is_running():  # a reused pid is a new process
        if len(_processes) > 1000:  # restarted workers leave old pids behind: keep it bounded
            _processes.clear()
        process = _processes[pid] = psutil.Process(pid)
    return process
