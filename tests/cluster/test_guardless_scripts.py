"""The documents' top-level scripts run as written, under the spawn start method too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Ports 0 instead of the defaults, so tests never collide; everything else as in the document.
SPAWN_PREAMBLE = """
import multiprocessing
multiprocessing.set_start_method("spawn", force=True)  # what Windows and macOS use
import os
os.environ["PYCLUSTER_SCHEDULER_PORT"] = "0"
os.environ["PYCLUSTER_DASHBOARD_PORT"] = "0"
os.environ["PYCLUSTER_DASK_DASHBOARD_PORT"] = "off"
"""


def _run(script: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD": "spawn", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        cwd=script.parent,
        env=env,
    )


def test_quick_start_without_main_guard_under_spawn(tmp_path: Path) -> None:
    body = (EXAMPLES / "quick_start.py").read_text().replace("n_local_workers=4", "n_local_workers=2")
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(SPAWN_PREAMBLE) + body)
    assert "__main__" not in body
    result = _run(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Cluster started!" in result.stdout
    assert "Result: 100" in result.stdout
    assert "Nanny failed to start" not in result.stderr


def test_function_defined_in_the_script_travels_by_value(tmp_path: Path) -> None:
    script = tmp_path / "helpers_in_main.py"
    script.write_text(
        textwrap.dedent(SPAWN_PREAMBLE)
        + textwrap.dedent("""
        from pycluster import HeadNode

        def cube(x):
            return x ** 3

        with HeadNode("by-value") as head:
            head.start(n_local_workers=1)
            futures = head.cluster_manager.map_tasks(cube, range(200))
            print("total", sum(f.result() for f in futures))
        """)
    )
    result = _run(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"total {sum(x**3 for x in range(200))}" in result.stdout


@pytest.mark.parametrize("example", ["monte_carlo.py"])
def test_documented_example_runs(tmp_path: Path, example: str) -> None:
    body = (EXAMPLES / example).read_text()
    body = body.replace("n_local_workers=6", "n_local_workers=2").replace("1000000", "20000")
    script = tmp_path / example
    script.write_text(textwrap.dedent(SPAWN_PREAMBLE) + body)
    result = _run(script)
    assert result.returncode == 0, result.stderr[-3000:]
    estimate = float(result.stdout.split("π estimate: ")[1].split()[0])
    assert abs(estimate - 3.14159) < 0.05
