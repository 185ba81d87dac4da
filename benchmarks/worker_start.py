"""What one local worker process of a keyed head costs to start, in CPU seconds, in one run.

A head hands each local worker what it already has (see ``pycluster/cluster/worker_entry.py``):
its TLS leaf, issued from the head's derived CA, and Dask's ``dask.sizeof`` entry points.
Each round starts one worker process both ways, the way the head does and with nothing
handed over (the worker then derives the CA, imports ``cryptography`` and scans every
installed distribution, as before), and reads the process's CPU time once it has joined.
CPU time is less noisy than wall time on a shared machine; ``other_cpu_s`` is the CPU the
rest of the machine used during the run. One JSON line per figure:

- ``worker_start_cpu_s``: median CPU seconds per worker start, handed over and not, and
  ``ratio`` = not handed / handed (> 1.0: the hand-over saves that much);
- ``worker_start_wall_s``: the same as wall seconds to joined (noisier).

    python benchmarks/worker_start.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import psutil

from pycluster.cluster import HeadNode, sizeof_plugins
from pycluster.cluster.security import node_tls
from pycluster.cluster.worker_entry import OPTIONS_VARIABLE, TLS_VARIABLE
from pycluster.cluster.worker_options import WorkerOptions
from pycluster.cluster.worker_runner import READY_MARKER
from pycluster.parallel.backends.dask_backend import LOCAL_WORKER_DASK_CONFIG

MODES = ("handed_over", "derived")


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def start_one(options: WorkerOptions, handed_over: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one worker process from exec until it joined."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", OPTIONS_VARIABLE: options.to_json(), **options.dask_env()}
    env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
    env["PYCLUSTER_AUTH_KEY"] = options.auth_key or ""
    for name in (TLS_VARIABLE, sizeof_plugins.VARIABLE):
        env.pop(name, None)
    if handed_over:  # as WorkerProcess.start does
        env[sizeof_plugins.VARIABLE] = sizeof_plugins.found()
        env[TLS_VARIABLE] = node_tls(options.auth_key or "").to_json()
    started = time.perf_counter()
    command = [sys.executable, "-m", "pycluster.cluster.worker_entry", str(os.getpid())]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_MARKER):
                break
        else:
            raise RuntimeError(f"the worker exited with {proc.wait()} before joining")
        wall = time.perf_counter() - started
        cpu = psutil.Process(proc.pid).cpu_times()
        return cpu.user + cpu.system, wall
    finally:
        proc.terminate()
        proc.wait(30)


def machine_cpu() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    ports = {"scheduler_port": 0, "dashboard_port": 0, "dask_dashboard_port": False}
    head = HeadNode("worker-start", host="127.0.0.1", services=(), **ports)
    head.start()
    try:
        assert head.scheduler_address is not None and head.auth_key, "a keyed head"
        options = WorkerOptions.create(
            head.scheduler_address,
            n_workers=1,
            threads_per_worker=1,
            auth_key=head.auth_key,
            dask_config=LOCAL_WORKER_DASK_CONFIG,
            nanny=False,
        )
        cpu: dict[str, list[float]] = {m: [] for m in MODES}
        wall: dict[str, list[float]] = {m: [] for m in MODES}
        own = psutil.Process()
        machine_before, own_before = machine_cpu(), sum(own.cpu_times()[:4])
        load = os.getloadavg()[0]
        for i in range(args.rounds):
            for mode in MODES if i % 2 == 0 else MODES[::-1]:  # alternate who goes first
                c, w = start_one(options, mode == "handed_over")
                cpu[mode].append(c)
                wall[mode].append(w)
        other = machine_cpu() - machine_before - (sum(own.cpu_times()[:4]) - own_before)
        med_cpu = {m: statistics.median(v) for m, v in cpu.items()}
        med_wall = {m: statistics.median(v) for m, v in wall.items()}
        common = {"rounds": args.rounds, "load_1min": round(load, 2), "other_cpu_s": round(other, 2)}
        emit(
            figure="worker_start_cpu_s",
            **{f"{m}_s": round(v, 3) for m, v in med_cpu.items()},
            ratio=round(med_cpu["derived"] / med_cpu["handed_over"], 3),
            saved_s=round(med_cpu["derived"] - med_cpu["handed_over"], 3),
            **common,
        )
        emit(
            figure="worker_start_wall_s",
            **{f"{m}_s": round(v, 3) for m, v in med_wall.items()},
            ratio=round(med_wall["derived"] / med_wall["handed_over"], 3),
            **common,
        )
    finally:
        head.shutdown()


if __name__ == "__main__":
    main()
