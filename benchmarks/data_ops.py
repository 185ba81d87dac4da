"""Dataset operations on ~2 GB of CSV and the same rows as Parquet, in one run.

Times ``aggregate mean`` and a ``group_by`` aggregate three ways on 2 workers:
through pycluster's job queue, through hand-written dask.dataframe on the same
cluster, and with single-process pandas. Then runs the aggregate with each worker
limited to 1 GB of memory and prints the peak worker RSS. One JSON line per figure.

    python benchmarks/data_ops.py [--size-gb 2] [--data-dir /tmp/pycluster-bench-data]

The data is generated once (reused when present); keep --data-dir on a disk with
~3x --size-gb free.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pycluster import HeadNode, JobStatus

ROWS_PER_FILE = 2_000_000  # ~90 MB of CSV per file


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def generate(folder: Path, size_gb: float) -> tuple[Path, Path]:
    csv_dir, parquet_dir = folder / "csv", folder / "parquet"
    marker = folder / f"complete-{size_gb:g}GB"
    if marker.exists():
        return csv_dir, parquet_dir
    for d in (csv_dir, parquet_dir):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
    started, written, i = time.perf_counter(), 0, 0
    while written < size_gb * 1e9:
        rng = np.random.default_rng(i)
        frame = pd.DataFrame(
            {
                "gene_id": rng.integers(0, 50_000, ROWS_PER_FILE),
                "category": rng.integers(0, 20, ROWS_PER_FILE),
                "expression_level": rng.normal(5, 2, ROWS_PER_FILE).round(4),
                "p_value": rng.random(ROWS_PER_FILE).round(6),
            }
        )
        frame.to_csv(csv_dir / f"part{i:03d}.csv", index=False)
        frame.to_parquet(parquet_dir / f"part{i:03d}.parquet", index=False)
        written += (csv_dir / f"part{i:03d}.csv").stat().st_size
        i += 1
    marker.touch()
    emit(
        benchmark="data_generation",
        csv_gb=round(written / 1e9, 2),
        files=i,
        seconds=round(time.perf_counter() - started, 1),
    )
    return csv_dir, parquet_dir


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


def via_pycluster(head: HeadNode, dataset_id: str, parameters: dict[str, Any]) -> Any:
    job = head.jobs.submit_job("aggregate", parameters, dataset_id=dataset_id, max_cores=2, max_memory_gb=0.5)
    done = head.jobs.wait(job.id, 3600)
    if done.status != JobStatus.COMPLETED:
        raise RuntimeError(done.error)
    return done.result


def raw_frame(fmt: str, folder: Path) -> Any:
    import dask.dataframe as dd

    if fmt == "csv":
        return dd.read_csv(str(folder / "*.csv"), blocksize="64MB", assume_missing=True)
    return dd.read_parquet(str(folder))


def pandas_frame(fmt: str, folder: Path, columns: list[str]) -> pd.DataFrame:
    if fmt == "csv":
        return pd.concat(pd.read_csv(p, usecols=columns) for p in sorted(folder.glob("*.csv")))
    return pd.read_parquet(folder, columns=columns)


def warm_up(head: HeadNode, fmt: str, folder: Path) -> None:
    """One small job each way first, so no figure includes the workers importing the dataframe stack."""
    first = sorted(p for p in folder.iterdir() if p.suffix in {".csv", ".parquet"})[0]
    via_pycluster(head, head.datasets.register(str(first)).id, {"column": "p_value", "operation": "max"})
    raw_frame(fmt, folder).p_value.head(10)


def compare(head: HeadNode, fmt: str, folder: Path) -> None:
    warm_up(head, fmt, folder)
    dataset_id = head.datasets.register(str(folder), name=fmt).id
    cases = {
        "aggregate_mean": (
            {"column": "expression_level", "operation": "mean"},
            lambda ddf: ddf.expression_level.mean().compute(),
            lambda df: df.expression_level.mean(),
            ["expression_level"],
        ),
        "group_by_mean": (
            {"column": "expression_level", "operation": "mean", "group_by": "category"},
            lambda ddf: ddf.groupby("category").expression_level.mean().compute(),
            lambda df: df.groupby("category").expression_level.mean(),
            ["category", "expression_level"],
        ),
    }
    for name, (params, dask_run, pandas_run, columns) in cases.items():
        ours, _ = timed(lambda p=params: via_pycluster(head, dataset_id, p))
        raw, _ = timed(lambda d=dask_run: d(raw_frame(fmt, folder)))
        local, _ = timed(lambda r=pandas_run, c=columns: r(pandas_frame(fmt, folder, c)))
        emit(
            benchmark=f"{name}_{fmt}",
            pycluster_seconds=round(ours, 2),
            dask_seconds=round(raw, 2),
            pandas_seconds=round(local, 2),
            ratio_vs_dask=round(ours / raw, 3),
            speedup_vs_pandas=round(local / ours, 2),
            target="ratio_vs_dask <= 1.10; faster than pandas on parquet",
        )


def peak_rss_during(head: HeadNode, run: Callable[[], Any]) -> tuple[Any, int]:
    import psutil

    client, peak, stop = head.cluster_manager.client, [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                sizes = client.run(lambda: psutil.Process().memory_info().rss)
                peak[0] = max(peak[0], *sizes.values())
            except Exception:
                pass
            stop.wait(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        return run(), peak[0]
    finally:
        stop.set()
        watcher.join()


def memory_limited(folder: Path, state: str) -> None:
    with HeadNode(
        "bench-1gb",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=state,
        data_roots=[str(folder.parent)],
    ) as head:
        head.start(n_local_workers=2, threads_per_worker=1, memory_limit="1GB")
        dataset_id = head.datasets.register(str(folder)).id
        seconds, (result, peak) = timed(
            lambda: peak_rss_during(
                head,
                lambda: via_pycluster(head, dataset_id, {"column": "expression_level", "operation": "mean"}),
            )
        )
        emit(
            benchmark="aggregate_mean_csv_1GB_workers",
            seconds=round(seconds, 2),
            completed=True,
            mean=round(result["value"], 6),
            peak_worker_rss_mb=round(peak / 1e6, 1),
            worker_memory_limit_mb=1000,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument(
        "--data-dir", default=os.environ.get("PYCLUSTER_BENCH_DATA", "/tmp/pycluster-bench-data")
    )
    args = parser.parse_args()
    folder = Path(args.data_dir) / f"{args.size_gb:g}GB"
    csv_dir, parquet_dir = generate(folder, args.size_gb)
    with tempfile.TemporaryDirectory() as state:
        with HeadNode(
            "bench-data",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            state_dir=state,
            data_roots=[str(folder)],
        ) as head:
            head.start(n_local_workers=2, threads_per_worker=1)
            for fmt, path in (("parquet", parquet_dir), ("csv", csv_dir)):
                compare(head, fmt, path)
        memory_limited(csv_dir, state)


if __name__ == "__main__":
    main()
