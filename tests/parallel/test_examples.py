"""The product documentation's examples run as written: guard-less scripts in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_quick_start_runs_once_without_a_main_guard(tmp_path: Path) -> None:
    out = run_example("distributed_quick_start.py", tmp_path)
    # a worker that re-imported the script would print these lines again
    assert out.count("Processed 1000 items") == 1
    assert "Sum of squares: 55" in out
    assert "Batch results: [0.9, 0.905, 0.35]" in out
    assert "Workers: 4" in out


def test_dask_example_starts_and_stops_a_local_cluster(tmp_path: Path) -> None:
    out = run_example("dask_backend.py", tmp_path)
    assert f"Sum of 100,000 squares on 2 Dask workers: {sum(x * x for x in range(100_000))}" in out


def test_docs_parallel_example_runs(tmp_path: Path) -> None:
    # the page's block is a fragment for tests/test_doctests.py: it runs here, as a script
    section = (EXAMPLES.parent / "docs" / "how-to" / "parallel.md").read_text()
    code = section[section.index("```python\n") + len("```python\n") : section.index("```\n\n|")]
    script = tmp_path / "readme_parallel.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "55 200005"
    assert float(second.rsplit(" ", 1)[1]) > -1e-4  # the best fitness: the bowl's top is 0


def test_script_that_never_shuts_its_dask_backend_down_exits_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "no_shutdown.py"
    script.write_text(
        "import os\n"
        "from pycluster import BackendType, DistributedCoordinator, set_backend\n"
        "set_backend(BackendType.DASK, n_workers=2)\n"
        "print(*DistributedCoordinator().map(lambda _: os.getpid(), range(8), chunksize=1))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    worker_pids = {int(pid) for pid in done.stdout.split()}
    wait_for(
        lambda: not any(psutil.pid_exists(pid) for pid in worker_pids), timeout=20, what="workers to end"
    )
