"""Packaging the documents promise: the extras, pytest-cov for `pytest --cov`, an MIT LICENSE."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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
