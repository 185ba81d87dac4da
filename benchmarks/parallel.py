"""Benchmark of pycluster.parallel against Pool, joblib, raw Dask and raw Ray (2 workers each).

Prints one JSON line per figure. Each figure is the median of 3 timed runs after a
warm-up, and the runs of everything compared in one figure are *interleaved*
(round-robin), so a burst of load from another process on a shared machine falls
on all of them alike. ``load_1m`` is the 1-minute load average when the figure ends.

- map_200k: 200,000 trivial items (x*x) through ``coordinator.map`` with automatic
  chunks; ``ratio_vs_pool`` = Pool.map seconds / these seconds (>= 1.0 is as fast as
  Pool), ``ratio_vs_best_raw`` = best hand-batched raw Dask/Ray seconds / these
  (>= 0.833 is within 1.2x).
- cpu_16x0.25s: 16 CPU-bound tasks of ~0.25 s; ``efficiency`` = speedup / 2 cores.
- genetic_pop100_gen10_20ms: population 100, 10 generations, a 20 ms CPU-bound
  fitness; ``speedup`` over the same algorithm evaluating fitness in a plain loop.

Run: .venv/bin/python benchmarks/parallel.py   (about 4 minutes on 2 cores)
One part: ... parallel.py --sections cpu,genetic --backends dask   (see --help)
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

from pycluster import DistributedCoordinator, DistributedGeneticOptimizer, ParameterRange
from pycluster.parallel.backends import Backend
from pycluster.parallel.backends.dask_backend import DaskBackend
from pycluster.parallel.backends.local import MultiprocessingBackend
from pycluster.parallel.backends.ray_backend import RayBackend

__all__: list[str] = []

WORKERS = 2
N_ITEMS = 200_000
ITEMS = list(range(N_ITEMS))
EXPECTED = [x * x for x in ITEMS]
RUNS = 3
RAW_BATCH_COUNTS = (2, 4, 8)  # the hand-batched baselines try each; the best one counts
Run = Callable[[], Any]


def square(x: int) -> int:
    return x * x


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def spins_per_second() -> float:
    n = 200_000
    return n / min(_timed(lambda: spin(n)) for _ in range(3))


def _timed(run: Run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def interleaved_medians(runs: dict[str, Run], warm_up: bool = True) -> dict[str, float]:
    """Median seconds of each run, the runs taken in turn (a, b, c, a, b, c, ...)."""
    if warm_up:
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(RUNS):
        for name, run in runs.items():
            times[name].append(_timed(run))
    return {name: statistics.median(values) for name, values in times.items()}


def emit(**figure: Any) -> None:
    figure["load_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figure.items()}), flush=True)


def batches(items: list[int], count: int) -> list[list[int]]:
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)]


def checked(run: Callable[[], list[int]]) -> Run:
    assert run() == EXPECTED, "a map returned wrong results"
    return run


# ---------------------------------------------------------------------- map_200k
def map_multiprocessing(pool: Any, backend: Backend) -> float:
    from joblib import Parallel, delayed

    coordinator = DistributedCoordinator(backend)
    parallel = Parallel(n_jobs=WORKERS)
    runs = {
        "Pool.map": checked(lambda: pool.map(square, ITEMS)),
        "joblib": checked(lambda: parallel(delayed(square)(x) for x in ITEMS)),
        "pycluster": checked(lambda: coordinator.map(square, ITEMS)),
    }
    seconds = interleaved_medians(runs)
    pool_s = seconds["Pool.map"]
    for impl, s in seconds.items():
        figure = {"benchmark": "map_200k", "backend": "multiprocessing", "impl": impl, "seconds": s}
        figure |= {"items_per_s": N_ITEMS / s, "ratio_vs_pool": pool_s / s}
        if impl == "pycluster":
            figure["target"] = "ratio_vs_pool >= 1.0"
        emit(**figure)
    return pool_s


# The hand-batched baselines call the same `square` on each item as Pool.map and the
# coordinator do: they measure what batching costs on each engine, not inlined arithmetic.
def dask_square_bytes(payload: bytes) -> bytes:
    return pickle.dumps([square(x) for x in pickle.loads(payload)])


def square_list(xs: list[int]) -> list[int]:
    return [square(x) for x in xs]


def raw_dask_runs(client: Any) -> dict[str, Run]:
    def run_bytes(count: int) -> list[int]:
        futures = client.map(dask_square_bytes, [pickle.dumps(b) for b in batches(ITEMS, count)], pure=False)
        return list(itertools.chain.from_iterable(pickle.loads(r) for r in client.gather(futures)))

    return {f"raw_batched_bytes/{n}": checked(lambda n=n: run_bytes(n)) for n in RAW_BATCH_COUNTS}


def raw_ray_runs() -> dict[str, Run]:
    import ray

    remote_square = ray.remote(square_list)

    def run(count: int) -> list[int]:
        refs = [remote_square.remote(b) for b in batches(ITEMS, count)]
        return list(itertools.chain.from_iterable(ray.get(refs)))

    return {f"raw_batched_lists/{n}": checked(lambda n=n: run(n)) for n in RAW_BATCH_COUNTS}


def map_against_raw(backend: Backend, raw: dict[str, Run], pool_s: float) -> None:
    coordinator = DistributedCoordinator(backend)
    seconds = interleaved_medians({**raw, "pycluster": checked(lambda: coordinator.map(square, ITEMS))})
    ours = seconds.pop("pycluster")
    for name, s in seconds.items():
        impl, count = name.split("/")
        emit(
            benchmark="map_200k",
            backend=backend.name,
            impl=impl,
            batches=int(count),
            seconds=s,
            items_per_s=N_ITEMS / s,
        )
    figure = {"benchmark": "map_200k", "backend": backend.name, "impl": "pycluster", "seconds": ours}
    figure |= {"items_per_s": N_ITEMS / ours, "ratio_vs_pool": pool_s / ours}
    figure |= {"ratio_vs_best_raw": min(seconds.values()) / ours, "target": "ratio_vs_best_raw >= 0.833"}
    emit(**figure)


def dask_lists_reference(client: Any) -> None:
    """Raw Dask returning lists (dask/distributed#6368): why batches must travel as bytes."""
    run = checked(
        lambda: list(
            itertools.chain.from_iterable(
                client.gather(client.map(square_list, batches(ITEMS, 8), pure=False))
            )
        )
    )
    seconds = interleaved_medians({"lists": run}, warm_up=False)["lists"]
    emit(
        benchmark="map_200k",
        backend="dask",
        impl="raw_batched_lists",
        batches=8,
        seconds=seconds,
        items_per_s=N_ITEMS / seconds,
    )


# ---------------------------------------------------------------------- cpu_16
def cpu_bound(pool: Any, backends: list[Backend], n: int) -> None:
    tasks = [n] * 16
    runs: dict[str, Run] = {"sequential": lambda: [spin(t) for t in tasks]}
    if pool is not None:
        runs["multiprocessing/Pool.map"] = lambda: pool.map(spin, tasks, chunksize=1)
    for backend in backends:
        runs[f"{backend.name}/pycluster"] = lambda c=DistributedCoordinator(backend): c.map(spin, tasks)
    seconds = interleaved_medians(runs, warm_up=False)
    sequential_s = seconds.pop("sequential")
    emit(benchmark="cpu_16x0.25s", backend="none", impl="sequential", seconds=sequential_s)
    for name, s in seconds.items():
        backend_name, impl = name.split("/")
        speedup = sequential_s / s
        emit(
            benchmark="cpu_16x0.25s",
            backend=backend_name,
            impl=impl,
            seconds=s,
            speedup=speedup,
            efficiency=speedup / WORKERS,
            target="efficiency >= 0.90",
        )


# ---------------------------------------------------------------------- genetic
GA_RANGES = [ParameterRange("x", -10.0, 10.0, "float"), ParameterRange("y", -10.0, 10.0, "float")]


class SequentialOptimizer(DistributedGeneticOptimizer):
    """The same algorithm, fitness in a plain loop: the sequential baseline."""

    def _evaluate_all(
        self, coordinator: Any, fitness_function: Any, params: list[dict[str, Any]]
    ) -> list[Any]:
        return [fitness_function(p) for p in params]


def make_fitness(n: int) -> Callable[[dict[str, float]], float]:
    def fitness(params: dict[str, float]) -> float:
        spin(n)  # ~20 ms of CPU
        return -(params["x"] ** 2 + params["y"] ** 2)

    return fitness


def genetic(backends: list[Backend], n: int) -> None:
    optimizers = {
        "sequential": SequentialOptimizer(GA_RANGES, population_size=100, backend=backends[0], seed=42)
    }
    for backend in backends:
        optimizers[backend.name] = DistributedGeneticOptimizer(
            GA_RANGES, population_size=100, backend=backend, seed=42
        )
    fitness = make_fitness(n)
    runs = {name: lambda o=o: o.optimize(fitness, generations=10) for name, o in optimizers.items()}
    seconds = interleaved_medians(runs, warm_up=False)
    answers = {
        name: (o.best_individual.parameters if o.best_individual else None) for name, o in optimizers.items()
    }
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, "same seed, different answers"
    sequential_s = seconds.pop("sequential")
    evaluations = optimizers["sequential"].get_distributed_stats()["total_evaluations"]
    emit(
        benchmark="genetic_pop100_gen10_20ms",
        backend="none",
        impl="sequential",
        seconds=sequential_s,
        evaluations=evaluations,
    )
    for name, s in seconds.items():
        emit(
            benchmark="genetic_pop100_gen10_20ms",
            backend=name,
            impl="pycluster",
            seconds=s,
            evaluations=evaluations,
            speedup=sequential_s / s,
            target="speedup >= 1.8",
        )


# ---------------------------------------------------------------------- main
SECTIONS = ("map", "cpu", "genetic")
BACKEND_NAMES = ("multiprocessing", "dask", "ray")
MAKERS: dict[str, Callable[[], Backend]] = {
    "multiprocessing": lambda: MultiprocessingBackend(num_workers=WORKERS),
    "dask": lambda: DaskBackend(n_workers=WORKERS),
    "ray": lambda: RayBackend(num_cpus=WORKERS),
}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rate = spins_per_second()
    if "map" in args.sections:
        map_section(args.backends)
    if {"cpu", "genetic"} & set(args.sections):
        isolated_cpu_and_genetic(rate, args.sections, args.backends)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections", type=_names(SECTIONS), default=SECTIONS, help=f"comma-separated: {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--backends",
        type=_names(BACKEND_NAMES),
        default=BACKEND_NAMES,
        help=f"comma-separated: {','.join(BACKEND_NAMES)} (Pool.map: with multiprocessing, and in map)",
    )
    return parser.parse_args(argv)


def _names(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = set(names) - set(allowed)
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}; got {text!r}")
        return names

    return parse


def map_section(names: tuple[str, ...]) -> None:
    pool = multiprocessing.Pool(WORKERS)
    backends = {
        name: MAKERS[name]().initialize()
        for name in BACKEND_NAMES
        if name in names or name == "multiprocessing"
    }
    try:
        pool_s = map_multiprocessing(pool, backends["multiprocessing"])
        if "dask" in backends:
            dask = backends["dask"]
            assert isinstance(dask, DaskBackend)
            map_against_raw(dask, raw_dask_runs(dask.client), pool_s)
        if "ray" in backends:
            map_against_raw(backends["ray"], raw_ray_runs(), pool_s)
        if "dask" in backends:
            dask_lists_reference(dask.client)
    finally:
        pool.terminate()
        for backend in reversed(backends.values()):
            backend.shutdown()


def isolated_cpu_and_genetic(rate: float, sections: tuple[str, ...], names: tuple[str, ...]) -> None:
    """CPU-bound and optimiser figures with only the measured engine alive: on 2 cores the idle
    processes of the other engines (Ray's ~10, Dask's scheduler and workers) steal the CPU
    that parallel efficiency is measured on."""
    if "cpu" in sections and "multiprocessing" in names:
        with multiprocessing.Pool(WORKERS) as pool:
            cpu_bound(pool, [], int(rate * 0.25))
    for name in (n for n in BACKEND_NAMES if n in names):
        backend = MAKERS[name]().initialize()
        try:
            if "cpu" in sections:
                cpu_bound(None, [backend], int(rate * 0.25))
            if "genetic" in sections:
                genetic([backend], int(rate * 0.02))
        finally:
            backend.shutdown()


if __name__ == "__main__":
    main()
