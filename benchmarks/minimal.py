"""pycluster.minimal vs the minimalcluster package, same examples, same machine, one run.

Both get a master that does not work itself and one worker node with 2 processes,
started as a subprocess on 127.0.0.1 (as a user on a second machine would). Figures:
- minimalcluster's Example 1: Pi from 1,000,000 throws (one call per argument),
- minimalcluster's Example 2: factorising 5,000 numbers.
One JSON line per figure (seconds of ``execute()``), then the ratio minimalcluster / pycluster
(target: >= 10 on Pi, >= 1 everywhere). Answers are checked to agree.

    pip install minimalcluster
    python benchmarks/minimal.py [--throws 1000000] [--numbers 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

AUTHKEY = "benchmark-authkey-0123456789"
PI_ENVIR = """
from random import random
example_pi_estimate_throw = lambda x: 1 if (random() * 2 - 1)**2 + (random() * 2 - 1)**2 < 1 else 0
"""
FACTOR_ENVIR = (Path(__file__).resolve().parents[1] / "examples" / "minimal" / "factorize.py").read_text()
FACTOR_ENVIR = FACTOR_ENVIR.split('envir_statement = """', 1)[1].split('"""', 1)[0]


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_worker(package: str, port: int) -> subprocess.Popen[bytes]:
    code = (
        f"from {package} import WorkerNode; "
        f"WorkerNode('127.0.0.1', {port}, {AUTHKEY!r}, nprocs=2, quiet=True).join_cluster()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """End the worker subprocess we started and its children, by PID."""
    with contextlib.suppress(psutil.Error):
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in family:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(family, timeout=10)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()


def run(master: Any, envir: str, target: str, args: list[Any]) -> tuple[float, dict[Any, Any]]:
    master.load_envir(envir, from_file=False)
    master.register_target_function(target)
    master.load_args(args)
    start = time.perf_counter()
    result = master.execute()
    return time.perf_counter() - start, result


def measure(package: str, throws: int, numbers: list[int]) -> dict[str, tuple[float, dict[Any, Any]]]:
    module = __import__(package, fromlist=["MasterNode"])
    port = free_port()
    master = module.MasterNode("127.0.0.1", port, AUTHKEY)
    master.start_master_server(if_join_as_worker=False)
    worker = start_worker(package, port)
    try:
        _wait(lambda: len(master.list_workers()) > 0, 120)
        if package == "pycluster.minimal":  # both processes of the worker node
            _wait(lambda: len(master.list_workers()) >= 2, 60)
        return {
            "pi": run(master, PI_ENVIR, "example_pi_estimate_throw", list(range(throws))),
            "factorize": run(master, FACTOR_ENVIR, "example_factorize_naive", numbers),
        }
    finally:
        stop_tree(worker)
        master.shutdown()


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker node did not join in time")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throws", type=int, default=1_000_000)
    parser.add_argument("--numbers", type=int, default=5000)
    options = parser.parse_args()
    numbers = [999999999999 + 2 * i for i in range(options.numbers + 1)]  # the original's make_nums
    ours = measure("pycluster.minimal", options.throws, numbers)
    try:
        theirs = measure("minimalcluster", options.throws, numbers)
    except ImportError:
        emit(benchmark="minimal", error="minimalcluster is not installed: pip install minimalcluster")
        theirs = {}
    for example, n in (("pi", options.throws), ("factorize", len(numbers))):
        seconds, result = ours[example]
        emit(benchmark="minimal", example=example, system="pycluster.minimal", n=n, seconds=round(seconds, 3))
        if example in theirs:
            their_seconds, their_result = theirs[example]
            emit(
                benchmark="minimal",
                example=example,
                system="minimalcluster",
                n=n,
                seconds=round(their_seconds, 3),
            )
            emit(
                benchmark="minimal",
                example=example,
                ratio_minimalcluster_over_pycluster=round(their_seconds / seconds, 2),
                same_answers=_same(example, result, their_result, n),
            )


def _same(example: str, ours: dict[Any, Any], theirs: dict[Any, Any], n: int) -> bool:
    if example == "pi":  # random throws: both estimates near pi, every argument answered
        estimates = [4.0 * sum(r.values()) / n for r in (ours, theirs)]
        return set(ours) == set(theirs) and all(abs(e - math.pi) < 0.01 for e in estimates)
    return ours == theirs


if __name__ == "__main__":
    main()
