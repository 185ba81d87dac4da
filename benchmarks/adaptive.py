"""Adaptive scaling of a head's local workers (issue 18): how fast it grows and shrinks.

Prints one JSON line per figure:
- ``scale_up_s``: from a backlog of ``--tasks`` tasks of ``--duration`` seconds on 1
  one-thread worker (``head.adapt(1, --maximum)``) to ``--maximum`` workers busy;
- ``scale_down_s``: from the last result to the minimum of 1 worker again (Dask's
  ``wait_count`` checks of idleness, then graceful retirement);
- ``lost``: results missing or wrong out of ``--tasks`` (0 expected: retiring moves data);
- ``backlog_s``: the whole backlog's wall time, and ``one_worker_s`` what it would take on 1.

    python benchmarks/adaptive.py [--tasks 40] [--duration 1.0] [--maximum 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from pycluster import HeadNode


def work(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--maximum", type=int, default=4)
    args = parser.parse_args()

    head = HeadNode(
        "bench-adaptive",
        scheduler_port=0,
        dask_dashboard_port=False,
        discovery_port=None,
        services=(),
        state_dir=tempfile.mkdtemp(),
    )
    head.start(n_local_workers=1, threads_per_worker=1)
    try:
        head.adapt(1, args.maximum, interval=0.2, wait_count=3, target_duration=1.0)
        client = head.cluster_manager.client
        start = time.perf_counter()
        futures = client.map(work, [args.duration] * args.tasks, pure=False)
        up = None
        while up is None:
            busy = sum(1 for ws in list(head.scheduler.workers.values()) if ws.processing)
            if busy >= args.maximum:
                up = time.perf_counter() - start
            elif all(f.done() for f in futures):
                break
            time.sleep(0.02)
        results = client.gather(futures)
        done = time.perf_counter()
        while len(head.local_workers.processes) > 1:
            time.sleep(0.05)
        down = time.perf_counter() - done
        up_s = None if up is None else round(up, 2)
        emit(figure="scale_up_s", value=up_s, workers=args.maximum, tasks=args.tasks, duration=args.duration)
        emit(figure="scale_down_s", value=round(down, 2), to=1)
        emit(figure="lost", value=sum(1 for r in results if r != args.duration), of=args.tasks)
        emit(
            figure="backlog_s",
            value=round(done - start, 2),
            one_worker_s=args.tasks * args.duration,
            ratio=round((done - start) / (args.tasks * args.duration), 2),
        )
    finally:
        head.shutdown()


if __name__ == "__main__":
    main()
