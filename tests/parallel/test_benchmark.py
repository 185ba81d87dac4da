"""benchmarks/parallel.py --quick runs end to end, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "parallel.py"


@pytest.mark.slow
def test_quick_benchmark_prints_every_figure_against_the_users_own_set_ups() -> None:
    engines = ["multiprocessing", "dask"] + (["ray"] if importlib.util.find_spec("ray") else [])
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--backends", ",".join(engines)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    seen = {(f["figure"], f["engine"]) for f in figures}
    for engine in engines:
        assert {(name, engine) for name in ("ready", "map", "cpu_first", "cpu", "genetic")} <= seen
    for figure in figures:
        if figure["figure"] in ("ready", "map", "cpu_first", "cpu"):
            # the user's own set-up and pycluster's, both measured, and how they compare
            assert figure["user_s"] > 0 and figure["pycluster_s"] > 0
            assert figure["ratio"] == pytest.approx(figure["user_s"] / figure["pycluster_s"], rel=0.05)
        if figure["figure"] in ("cpu_first", "cpu"):
            assert figure["pycluster_overhead_cpu_s"] >= 0 and figure["pycluster_other_cpu_s"] >= 0
