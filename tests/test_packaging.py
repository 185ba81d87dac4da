"""Packaging the documents promise: the extras, pytest-cov for `pytest --cov`, an MIT LICENSE, and a
wheel that carries the dashboard's files (uPlot vendored)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_extras_dev_and_complete_and_pytest_cov() -> None:
    extras = _project()["optional-dependencies"]
    assert extras["dev"] == ["pycluster[complete,test]"]
    assert set(re.findall(r"\w+", extras["complete"][0].split("[", 1)[1])) >= {"gpu", "llm", "ray"}
    assert any(req.startswith("pytest-cov") for req in extras["test"])


def test_license_file_matches_pyproject() -> None:
    assert _project()["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_the_documents_cov_command_runs(tmp_path: Path) -> None:
    # the PyCluster v2 document's `pytest tests/ -v --cov=pycluster`, on one small test file
    env = {**os.environ, "COVERAGE_FILE": str(tmp_path / ".coverage")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/config/test_settings.py", "-v", "--cov=pycluster",
         "--cov-report=term", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(r"pycluster/config\.py\s+\d+\s+\d+\s+\d+%", done.stdout), done.stdout[-2000:]


def test_the_wheel_ships_the_dashboard_files_and_no_plotly(tmp_path: Path) -> None:
    # the charts' library is vendored package data: a wheel without it draws no chart anywhere
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("pycluster-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        uplot = archive.read("pycluster/web/static/vendor/uPlot.iife.min.js").decode()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    vendor = "pycluster/web/static/vendor/"
    assert {f"{vendor}uPlot.min.css", f"{vendor}uPlot.LICENSE", f"{vendor}README.md"} <= names
    assert {"pycluster/web/static/index.html", "pycluster/web/static/charts.js"} <= names
    assert "pycluster/dashboard/templates/report.html.j2" in names
    assert uplot.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and not any("plotly" in line for line in requires)
