"""A worker subprocess: how Python code starts workers.

Starting workers as a fresh interpreter (as distributed's ``SubprocessCluster``
does) means the user's ``__main__`` is never re-imported, so guard-less scripts
(no ``if __name__ == "__main__":``) work on every OS.

With Nannies (``options.nanny``) the subprocess is ``pycluster worker``; without, it is
the leaner ``python -m pycluster.cluster.worker_entry``, one Dask worker per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from ..errors import AuthenticationError, SchedulerUnreachableError, WorkerStartError
from . import sizeof_plugins
from .security import node_tls
from .worker_entry import OPTIONS_VARIABLE, TLS_VARIABLE
from .worker_options import WorkerOptions
from .worker_runner import READY_MARKER

__all__ = ["WorkerProcess"]

_IS_WINDOWS = os.name == "nt"


class WorkerProcess:
    """One subprocess hosting ``options.n_workers`` Nanny-supervised Dask workers."""

    def __init__(self, options: WorkerOptions, log_dir: Path, watch_parent: bool = True) -> None:
        self.options = options
        self.log_path = Path(log_dir) / f"worker-{time.time_ns()}.log"
        self.worker_addresses: list[str] = []
        # each worker's memory limit in bytes as it reported it (None: none, or its Nanny's job)
        self.memory_limits: list[int | None] = []
        self._watch_parent = watch_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._family: list[psutil.Process] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit code once it has exited (negative: ended by that signal), else None."""
        return self._proc.poll() if self._proc is not None else None

    def command(self) -> list[str]:
        if not self.options.nanny:
            parent = [str(os.getpid())] if self._watch_parent else []
            return [sys.executable, "-m", "pycluster.cluster.worker_entry", *parent]
        argv = [sys.executable, "-m", "pycluster", "worker", *self.options.to_argv()]
        if self._watch_parent:
            argv += ["--watch-pid", str(os.getpid())]
        return argv

    def start(self, timeout: float) -> list[str]:
        """Start the subprocess and wait until its workers have joined; their addresses."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _parent_sys_path()}
        env.update(self.options.dask_env())
        for inherited in ("PYCLUSTER_AUTH_KEY", TLS_VARIABLE, sizeof_plugins.VARIABLE):
            env.pop(inherited, None)
        if not self.options.nanny:  # one worker in this process: it is the one to pin
            env[OPTIONS_VARIABLE] = self.options.to_json()
            env.update(self.options.worker_env(0) or {})
            # made here once rather than in every worker (see worker_entry)
            env[sizeof_plugins.VARIABLE] = sizeof_plugins.found()
            if self.options.auth_key:
                env[TLS_VARIABLE] = node_tls(self.options.auth_key).to_json()
        # the key travels in the environment, never in argv (which ps shows to every user)
        if self.options.auth_key:
            env["PYCLUSTER_AUTH_KEY"] = self.options.auth_key
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if _IS_WINDOWS else 0  # type: ignore[attr-defined]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                creationflags=flags,
            )
        try:
            self.worker_addresses = self._wait_ready(timeout)
        except BaseException:
            self.stop(timeout=5)
            raise
        return self.worker_addresses

    def _wait_ready(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._log_lines():
                if line.startswith(READY_MARKER):
                    ready = json.loads(line[len(READY_MARKER) :])
                    self.memory_limits = list(ready.get("memory_limit", []))
                    return list(ready["workers"])
                if line.startswith("error: "):
                    raise _start_error(line[len("error: ") :], self.options)
            if not self.alive:
                raise WorkerStartError(
                    f"worker process exited with code {self._proc.returncode if self._proc else '?'} "
                    f"before joining {self.options.scheduler_address}. Last log lines:\n{self.log_tail()}"
                )
            time.sleep(0.01)  # a file read: cheap, and each tick is start-up time saved
        raise WorkerStartError(
            f"workers did not join {self.options.scheduler_address} within {timeout:g}s. "
            f"Last log lines:\n{self.log_tail()}"
        )

    def _log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def log_tail(self, n: int = 15) -> str:
        return "\n".join(self._log_lines()[-n:])

    def signal_stop(self) -> None:
        """Ask the process to close its workers, without waiting (see :meth:`stop`)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        if self._family is None:  # taken before it exits: its children are reparented then
            self._family = _process_tree(proc.pid)
        with contextlib.suppress(OSError):  # it may have exited just now
            proc.send_signal(signal.CTRL_BREAK_EVENT if _IS_WINDOWS else signal.SIGTERM)  # type: ignore[attr-defined]

    def kill(self) -> None:
        """End the process and its children at once (SIGKILL; TerminateProcess on Windows)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for p in _process_tree(proc.pid):
            with contextlib.suppress(psutil.Error):
                p.kill()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to close its workers; kill the whole tree if it does not in time."""
        proc = self._proc
        if proc is None:
            return
        self.signal_stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        _kill_all(self._family or [], grace=2.0)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _parent_sys_path() -> str:
    """This process's import path, so local workers import what the caller can (as spawn does)."""
    paths = [p or os.getcwd() for p in sys.path]
    return os.pathsep.join(dict.fromkeys(paths))


def _start_error(message: str, options: WorkerOptions) -> Exception:
    if "did not answer" in message:
        return SchedulerUnreachableError(message)
    if "cluster key" in message:
        return AuthenticationError(message)
    return WorkerStartError(f"{message} (scheduler {options.scheduler_address})")


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _kill_all(processes: list[psutil.Process], grace: float) -> None:
    """Wait up to ``grace`` s for ``processes`` to exit, then kill the rest.

    A zombie counts as exited: it holds nothing but its pid, and reaping it is its
    parent's job. Once the worker process is gone its own children are reparented to
    init, or to a child subreaper (tini, systemd, a container's init) that may reap
    late or never: waiting for them to vanish cost seconds there (7.8 s to stop a head).
    """
    alive = _still_running(processes, grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    _still_running(alive, 5.0)


def _still_running(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Poll for up to ``seconds`` until none of ``processes`` runs; those that still do."""
    deadline = time.monotonic() + seconds
    alive = [p for p in processes if _running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)
        alive = [p for p in alive if _running(p)]
    return alive


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
