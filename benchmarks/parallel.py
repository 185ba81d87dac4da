"""Benchmark of pycluster.parallel against the set-ups users write themselves (2 workers each).

Each engine is measured twice in the same run: as its users start it and use it by
hand, and through pycluster's backend and coordinator:

- multiprocessing: ``multiprocessing.Pool(2)`` and ``Pool.map``, against ``MultiprocessingBackend``;
- dask: ``LocalCluster(n_workers=2, threads_per_worker=1)`` + ``Client``, hand-batched
  ``client.map`` over lists of items, against ``DaskBackend(n_workers=2)``;
- ray: ``ray.init(num_cpus=2)``, hand-batched ``ray.get``, against ``RayBackend(num_cpus=2)``.

Only one set-up is alive at a time (on 2 cores the idle processes of another engine steal
the CPU being measured, and Ray allows one session per process), so each round starts
and stops every set-up in turn; the figure is the median over the rounds. Figures, one
JSON line each (``ratio`` = user's seconds / pycluster's, >= 1.0 is as fast):

- ``ready``: seconds from nothing to a set-up that takes work (for pycluster: the backend's
  ``initialize()``). Targets: multiprocessing <= 0.5 s; Dask ratio >= 0.833 (<= 1.2x LocalCluster).
  pycluster's multiprocessing and Dask backends start their worker processes without waiting
  for them (the first work waits: see ``cpu_first``); for Dask, ``pycluster_joined_s`` is when
  its workers had all joined (what ``LocalCluster`` waits for), and ``joined_ratio`` compares that.
  ``*_other_cpu_s``: the CPU the rest of the machine used until ready (and, run alone with
  ``--sections ready``, until pycluster's Dask workers joined: ``pycluster_joined_other_cpu_s``).
- ``map``: N trivial items (x*x), after one warm-up call (median of up to 9 calls, 2 s); the user's
  code hand-batches (one batch per worker, as a user would); pycluster
  chooses its own chunks. Target for Ray: ratio >= 0.8.
- ``cpu_first``: 16 CPU-bound tasks of ~0.25 s as the first work of a fresh set-up, wall
  seconds (what a set-up puts off until its first call shows here); ``cpu``: the same once
  everything is warm (after the map). Target for Ray: ratio >= 0.952 (<= 1.05x raw Ray).
  ``*_overhead_cpu_s`` is the CPU this process and everything it started used beyond the
  tasks' own CPU (drivers, schedulers, Ray's daemons, idle workers), ``*_other_cpu_s`` the
  CPU the rest of the machine used meanwhile: a busy machine shows there.
- ``genetic`` (pycluster only): population 100, 10 generations, a 20 ms fitness (issue 6);
  speedup over the same algorithm evaluating fitness in a plain loop (target >= 1.8), the
  efficiency (speedup / 2 workers), evaluations per second, the share of the distributed
  run's time spent evaluating (the rest is breeding, in the caller), and the CPU the rest of
  the machine used during each run (``*_other_cpu_s``: with one core busy elsewhere, no
  speedup is possible).

Every answer is checked against the sequential one, on every engine.

Run: .venv/bin/python benchmarks/parallel.py   (about 5 minutes on 2 cores)
Smoke run (small sizes, 1 round; a test runs it): ... parallel.py --quick
One part: ... parallel.py --sections ready,map --backends ray   (see --help)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep a local Ray on loopback

import psutil

from pycluster import DistributedCoordinator, DistributedGeneticOptimizer, ParameterRange
from pycluster.parallel.backends import Backend
from pycluster.parallel.backends.dask_backend import DaskBackend
from pycluster.parallel.backends.local import MultiprocessingBackend
from pycluster.parallel.backends.ray_backend import RayBackend

__all__: list[str] = []

WORKERS = 2
SECTIONS = ("ready", "map", "cpu", "genetic")
ENGINES = ("multiprocessing", "dask", "ray")
TARGETS = {
    ("ready", "multiprocessing"): "pycluster_s <= 0.5",
    ("ready", "dask"): "ratio >= 0.833",
    ("map", "ray"): "ratio >= 0.8",
    ("cpu", "ray"): "ratio >= 0.952",
    ("cpu_first", "ray"): "ratio >= 0.952",
    ("genetic", "any"): "speedup >= 1.8",
}


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3
    map_items: int = 200_000
    map_repeats: int = 9  # timed map calls per set-up (~50 ms each); their median counts
    cpu_tasks: int = 16
    cpu_task_s: float = 0.25
    ga_population: int = 100
    ga_generations: int = 10
    ga_fitness_s: float = 0.02


MAP_BUDGET_S = 2.0  # no more map calls per set-up once this is spent (hand-batched Dask: ~5 s a call)
QUICK_RUN = False
QUICK = Sizes(rounds=1, map_items=20_000, map_repeats=1, cpu_task_s=0.02, ga_population=16, ga_generations=2)


# ---------------------------------------------------------------------- work
def square(x: int) -> int:
    return x * x


def square_list(xs: list[int]) -> list[int]:
    return [square(x) for x in xs]


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def timed_spin(n: int) -> tuple[int, float]:
    """``spin(n)`` and the CPU seconds this thread spent on it (the task's own CPU)."""
    started = time.thread_time()
    result = spin(n)
    return result, time.thread_time() - started


def spins_per_second() -> float:
    n = 200_000
    return n / min(_timed(lambda: spin(n)) for _ in range(3))


def _timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def batches(items: list[int], count: int) -> list[list[int]]:
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------------- CPU accounting
def _tree_cpu() -> float:
    """CPU seconds of this process and every process below it (alive now)."""
    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _machine_cpu() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0) + getattr(times, "irq", 0.0))


def _other_cpu(tree: float, machine: float) -> float:
    """CPU seconds the rest of the machine used since ``_tree_cpu()``/``_machine_cpu()`` read these."""
    return max(0.0, (_machine_cpu() - machine) - (_tree_cpu() - tree))


# ---------------------------------------------------------------------- set-ups
# A set-up is what one engine needs to run a map: started, then used, then stopped.
Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


@dataclass
class SetUp:
    """One way of running work on one engine: the user's own, or pycluster's."""

    engine: str
    impl: str  # "user" or "pycluster"
    start: Callable[[], None]
    map_items: Mapper  # hand-batched by the user, chunked by pycluster
    map_tasks: Mapper  # one task per item (the CPU-bound figure)
    stop: Callable[[], None]
    backend: Backend | None = None


def user_multiprocessing() -> SetUp:
    state: dict[str, Any] = {}

    def start() -> None:
        state["pool"] = multiprocessing.Pool(WORKERS)

    return SetUp(
        "multiprocessing",
        "user",
        start,
        lambda f, items: state["pool"].map(f, items),
        lambda f, items: state["pool"].map(f, items, chunksize=1),
        lambda: state.pop("pool").terminate(),
    )


def user_dask() -> SetUp:
    state: dict[str, Any] = {}

    def start() -> None:
        from distributed import Client, LocalCluster

        state["cluster"] = LocalCluster(n_workers=WORKERS, threads_per_worker=1)
        state["client"] = Client(state["cluster"])

    def map_items(f: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        client = state["client"]
        futures = client.map(square_list, batches(items, WORKERS), pure=False)
        return list(itertools.chain.from_iterable(client.gather(futures)))

    def map_tasks(f: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return list(state["client"].gather(state["client"].map(f, items, pure=False)))

    def stop() -> None:
        state.pop("client").close()
        state.pop("cluster").close()

    return SetUp("dask", "user", start, map_items, map_tasks, stop)


def user_ray() -> SetUp:
    import ray

    remotes: dict[Callable[..., Any], Any] = {}  # as a user writes it: each function made remote once

    def remote(f: Callable[..., Any]) -> Any:
        if f not in remotes:
            remotes[f] = ray.remote(f)
        return remotes[f]

    def map_items(f: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        refs = [remote(square_list).remote(b) for b in batches(items, WORKERS)]
        return list(itertools.chain.from_iterable(ray.get(refs)))

    def map_tasks(f: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return list(ray.get([remote(f).remote(item) for item in items]))

    def start() -> None:
        ray.init(num_cpus=WORKERS, logging_level="WARNING")

    return SetUp("ray", "user", start, map_items, map_tasks, ray.shutdown)


def pycluster_setup(engine: str) -> SetUp:
    makers: dict[str, Callable[[], Backend]] = {
        "multiprocessing": lambda: MultiprocessingBackend(num_workers=WORKERS),
        "dask": lambda: DaskBackend(n_workers=WORKERS),
        "ray": lambda: RayBackend(num_cpus=WORKERS),
    }
    setup = SetUp(engine, "pycluster", lambda: None, lambda f, i: [], lambda f, i: [], lambda: None)

    def start() -> None:
        setup.backend = makers[engine]().initialize()

    def run(f: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        assert setup.backend is not None
        return DistributedCoordinator(setup.backend).map(f, items)

    def stop() -> None:
        assert setup.backend is not None
        setup.backend.shutdown()

    setup.start, setup.map_items, setup.map_tasks, setup.stop = start, run, run, stop
    return setup


USER_SETUPS: dict[str, Callable[[], SetUp]] = {
    "multiprocessing": user_multiprocessing,
    "dask": user_dask,
    "ray": user_ray,
}


# ---------------------------------------------------------------------- measuring
@dataclass
class CpuSamples:
    """The CPU-bound run's wall seconds, and the CPU used beside the tasks (see the module doc)."""

    wall: list[float] = field(default_factory=list)
    overhead_cpu: list[float] = field(default_factory=list)
    other_cpu: list[float] = field(default_factory=list)


@dataclass
class Samples:
    """What one set-up measured, round after round."""

    ready: list[float] = field(default_factory=list)
    ready_other_cpu: list[float] = field(default_factory=list)  # the rest of the machine's, meanwhile
    joined: list[float] = field(default_factory=list)  # Dask backend: all its workers joined
    joined_other_cpu: list[float] = field(default_factory=list)  # meanwhile (only when nothing overlaps)
    map: list[float] = field(default_factory=list)
    cpu_first: CpuSamples = field(default_factory=CpuSamples)  # the first work after start
    cpu: CpuSamples = field(default_factory=CpuSamples)  # after the map: everything warm
    genetic: list[GeneticRun] = field(default_factory=list)


def measure(setup: SetUp, sizes: Sizes, sections: tuple[str, ...], spin_n: int, samples: Samples) -> None:
    items = list(range(sizes.map_items))
    expected = [x * x for x in items]
    # its own name: the map loop below times each call with ``started``, and the joined time
    # read at the end was once taken from the last map call instead (negative, in a full run)
    tree, machine, set_up_at = _tree_cpu(), _machine_cpu(), time.perf_counter()
    setup.start()
    samples.ready.append(time.perf_counter() - set_up_at)
    samples.ready_other_cpu.append(_other_cpu(tree, machine))
    try:
        if sections == ("ready",) and isinstance(setup.backend, DaskBackend):
            # nothing else runs, so the window until the workers joined is theirs alone
            samples.joined.append(_joined(setup.backend) - set_up_at)
            samples.joined_other_cpu.append(_other_cpu(tree, machine))
        if "cpu" in sections:  # the first work of a fresh set-up: what starting lazily costs shows here
            measure_cpu(setup, sizes, spin_n, samples.cpu_first)
        if "map" in sections:
            check(setup.map_items(square, items), expected, setup, "map")  # warm-up
            times: list[float] = []
            while len(times) < sizes.map_repeats and sum(times) < MAP_BUDGET_S:
                started = time.perf_counter()
                answer = setup.map_items(square, items)
                times.append(time.perf_counter() - started)
                check(answer, expected, setup, "map")
            samples.map.append(statistics.median(times))
        if "cpu" in sections:
            measure_cpu(setup, sizes, spin_n, samples.cpu)
        if "genetic" in sections and setup.backend is not None:
            samples.genetic.append(genetic(setup.backend, sizes, spin_n))
        if isinstance(setup.backend, DaskBackend) and sections != ("ready",):
            # read last: the work above overlapped the start
            samples.joined.append(_joined(setup.backend) - set_up_at)
    finally:
        setup.stop()


def _joined(backend: DaskBackend) -> float:
    """When the backend's workers had all joined (perf_counter), as the backend noted it."""
    if backend.workers_joined_at is None:  # still starting: wait for them
        backend.client  # noqa: B018  # waits for the workers
    assert backend.workers_joined_at is not None
    return backend.workers_joined_at


def measure_cpu(setup: SetUp, sizes: Sizes, spin_n: int, samples: CpuSamples) -> None:
    n = int(spin_n * sizes.cpu_task_s)
    tree, machine, started = _tree_cpu(), _machine_cpu(), time.perf_counter()
    answer = setup.map_tasks(timed_spin, [n] * sizes.cpu_tasks)
    wall = time.perf_counter() - started
    tree_used, machine_used = _tree_cpu() - tree, _machine_cpu() - machine
    check([result for result, _ in answer], [spin(n)] * sizes.cpu_tasks, setup, "cpu")
    samples.wall.append(wall)
    samples.overhead_cpu.append(max(0.0, tree_used - sum(seconds for _, seconds in answer)))
    samples.other_cpu.append(max(0.0, machine_used - tree_used))


def check(answer: list[Any], expected: list[Any], setup: SetUp, figure: str) -> None:
    assert answer == expected, f"{setup.engine}/{setup.impl} answered {figure} wrongly"


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
        spin(n)
        return -(params["x"] ** 2 + params["y"] ** 2)

    return fitness


@dataclass(frozen=True)
class GeneticRun:
    """One round of the genetic figure: the sequential loop's seconds and the distributed run's."""

    sequential_s: float
    pycluster_s: float
    evaluations: int  # fitness calls of the distributed run (the same in the sequential one)
    evaluation_s: float  # of pycluster_s, the seconds spent evaluating (the rest is breeding)
    best_fitness: float
    # CPU seconds the rest of the machine used during each run: a speedup needs 2 free cores
    sequential_other_cpu_s: float
    pycluster_other_cpu_s: float


def genetic(backend: Backend, sizes: Sizes, spin_n: int) -> GeneticRun:
    fitness = make_fitness(int(spin_n * sizes.ga_fitness_s))
    seconds, answers, other_cpu = [], [], []
    optimizer = None
    for kind in (SequentialOptimizer, DistributedGeneticOptimizer):
        optimizer = kind(GA_RANGES, population_size=sizes.ga_population, backend=backend, seed=42)
        tree, machine = _tree_cpu(), _machine_cpu()
        seconds.append(_timed(lambda o=optimizer: o.optimize(fitness, generations=sizes.ga_generations)))
        other_cpu.append(max(0.0, (_machine_cpu() - machine) - (_tree_cpu() - tree)))
        best = optimizer.best_individual
        answers.append(json.dumps(best.parameters if best else None, sort_keys=True))
    assert answers[0] == answers[1], f"{backend.name}: same seed, different answers"
    assert optimizer is not None
    stats = optimizer.get_distributed_stats()
    return GeneticRun(
        seconds[0],
        seconds[1],
        stats["total_evaluations"],
        stats["evaluation_time"],
        stats["best_fitness"],
        other_cpu[0],
        other_cpu[1],
    )


# ---------------------------------------------------------------------- report
def emit(**figure: Any) -> None:
    if QUICK_RUN:
        figure["quick"] = True  # sizes too small for the targets to mean anything
    figure["load_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figure.items()}), flush=True)


def report(engine: str, user: Samples, ours: Samples, sizes: Sizes, sections: tuple[str, ...]) -> None:
    median = statistics.median
    if "ready" in sections:
        figure = _pair("ready", engine, median(user.ready), median(ours.ready))
        figure |= {
            "user_other_cpu_s": median(user.ready_other_cpu),
            "pycluster_other_cpu_s": median(ours.ready_other_cpu),
        }
        if ours.joined:
            joined = median(ours.joined)
            figure |= {"pycluster_joined_s": joined, "joined_ratio": median(user.ready) / joined}
        if ours.joined_other_cpu:
            figure |= {"pycluster_joined_other_cpu_s": median(ours.joined_other_cpu)}
        emit(**figure, target=TARGETS.get(("ready", engine)))
    if "map" in sections:
        u, p = median(user.map), median(ours.map)
        figure = _pair("map", engine, u, p) | {
            "items": sizes.map_items,
            "pycluster_items_per_s": sizes.map_items / p,
        }
        emit(**figure, user_items_per_s=sizes.map_items / u, target=TARGETS.get(("map", engine)))
    if "cpu" in sections:
        for name, mine, theirs in (
            ("cpu_first", ours.cpu_first, user.cpu_first),
            ("cpu", ours.cpu, user.cpu),
        ):
            figure = _pair(name, engine, median(theirs.wall), median(mine.wall))
            figure |= {"tasks": sizes.cpu_tasks, "task_s": sizes.cpu_task_s}
            figure |= {"user_overhead_cpu_s": median(theirs.overhead_cpu)}
            figure |= {"pycluster_overhead_cpu_s": median(mine.overhead_cpu)}
            figure |= {
                "user_other_cpu_s": median(theirs.other_cpu),
                "pycluster_other_cpu_s": median(mine.other_cpu),
            }
            emit(**figure, target=TARGETS.get((name, engine)))
    if "genetic" in sections and ours.genetic:
        runs = ours.genetic
        sequential, parallel = median(r.sequential_s for r in runs), median(r.pycluster_s for r in runs)
        evaluations = runs[0].evaluations
        emit(
            figure="genetic",
            engine=engine,
            population=sizes.ga_population,
            generations=sizes.ga_generations,
            fitness_s=sizes.ga_fitness_s,
            evaluations=evaluations,
            sequential_s=sequential,
            pycluster_s=parallel,
            speedup=sequential / parallel,
            efficiency=sequential / parallel / WORKERS,  # speedup per worker: 1.0 is perfect
            evaluations_per_s=evaluations / parallel,
            evaluating_share=median(r.evaluation_s / r.pycluster_s for r in runs),
            best_fitness=runs[0].best_fitness,
            sequential_other_cpu_s=median(r.sequential_other_cpu_s for r in runs),
            pycluster_other_cpu_s=median(r.pycluster_other_cpu_s for r in runs),
            target=TARGETS[("genetic", "any")],
        )


def _pair(name: str, engine: str, user_s: float, ours_s: float) -> dict[str, Any]:
    return {
        "figure": name,
        "engine": engine,
        "user_s": user_s,
        "pycluster_s": ours_s,
        "ratio": user_s / ours_s,
    }


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    global QUICK_RUN
    QUICK_RUN = args.quick
    sizes = QUICK if args.quick else Sizes()
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    spin_n = int(spins_per_second())  # spins in one second of this machine's CPU
    for engine in args.backends:
        user, ours = Samples(), Samples()
        for _ in range(sizes.rounds):  # the two set-ups in turn, so a burst of load falls on both
            measure(USER_SETUPS[engine](), sizes, args.sections, spin_n, user)
            measure(pycluster_setup(engine), sizes, args.sections, spin_n, ours)
        report(engine, user, ours, sizes, args.sections)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--sections", type=_names(SECTIONS), default=SECTIONS, help=f"comma-separated: {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--backends", type=_names(ENGINES), default=ENGINES, help=f"comma-separated: {','.join(ENGINES)}"
    )
    parser.add_argument(
        "--rounds", type=int, default=0, help="rounds (the median counts); default 3, 1 with --quick"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 round: a smoke run")
    return parser.parse_args(argv)


def _names(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = set(names) - set(allowed)
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}; got {text!r}")
        return names

    return parse


if __name__ == "__main__":
    main()
