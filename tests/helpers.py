"""Helpers for tests: poll with a deadline, process trees, CLI subprocesses."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

BIN = Path(sys.executable).parent


def wait_for(
    condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def all_gone(processes: list[psutil.Process]) -> bool:
    return not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the installed ``pycluster`` command to completion."""
    return subprocess.run(
        [str(BIN / "pycluster"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


class CliProcess:
    """A long-running ``pycluster ...`` subprocess whose output is read line by line."""

    def __init__(self, *args: str, program: str = "pycluster", env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(BIN / program), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        import threading

        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"process exited ({self.proc.returncode}) before {pattern!r}:\n{self.output}"
                )
            return None

        return wait_for(found, timeout, what=f"{pattern!r} in output:\n{self.output}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for child in descendants(self.proc.pid):
                    child.kill()
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


def wait_for_job(api: Any, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll a job's REST status until it is completed, failed or cancelled; the last status."""

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = api.get(f"/api/processing/jobs/{job_id}/status").json()
        return status if status["status"] in {"completed", "failed", "cancelled"} else None

    return wait_for(finished, timeout, interval=0.1, what=f"job {job_id} to finish")  # type: ignore[no-any-return]


@contextlib.contextmanager
def api_client(head: Any) -> Iterator[Any]:
    """An httpx client on a head's dashboard URL."""
    import httpx

    with httpx.Client(base_url=head.dashboard_url or "", timeout=60) as client:
        yield client


@contextlib.contextmanager
def running_head(name: str, state_dir: Path | str, workers: int = 2, **options: Any) -> Iterator[Any]:
    """A head on 127.0.0.1 (every port picked free) with its own state dir and ``workers``
    one-thread local worker processes; shut down on leaving. ``options`` go to HeadNode."""
    from pycluster import HeadNode

    node = HeadNode(
        name,
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=str(state_dir),
        **options,
    )
    node.start(n_local_workers=workers, threads_per_worker=1)
    try:
        yield node
    finally:
        node.shutdown()
