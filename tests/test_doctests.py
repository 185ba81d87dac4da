"""The >>> examples in pycluster's docstrings run and show what they claim.

Every module under src/pycluster whose source has a ``>>>`` is one test here, so a new
module with examples is picked up without a list to keep. Examples that need a running
cluster are marked ``# doctest: +SKIP`` and stay skipped. A module that cannot be imported
because an optional library is missing is skipped, naming that library.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pycluster

SRC = Path(pycluster.__file__).parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    """Dotted names of the modules whose source has a ``>>>`` (found without importing them)."""
    names = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "__main__.py" or ">>>" not in path.read_text(encoding="utf-8"):
            continue  # running a __main__ on import would start a program, not show an example
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


def test_discovery_finds_the_modules_with_examples() -> None:
    # a few that have had examples for long: if these are missing the finder is broken,
    # and every parametrized test below would pass by testing nothing
    known = {
        "pycluster",
        "pycluster.compat",
        "pycluster.compat.windows",
        "pycluster.compat.network",
        "pycluster.cluster.local_heads",
        "pycluster.jobs.policy",
        "pycluster.net.protocol",
    }
    assert known <= set(MODULES), known - set(MODULES)
    assert len(MODULES) >= 40


def run_examples(name: str) -> tuple[doctest.TestResults, str]:
    """Run the examples of module ``name``; (results, the report of the failing ones)."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "pycluster":
            raise
        pytest.skip(f"{name} needs the optional library {missing!r}, which is not installed")
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.write)
    return runner.summarize(verbose=False), report.getvalue()


@contextlib.contextmanager
def contained(tmp_path: Path) -> Iterator[None]:
    """Examples may set environment variables, change directory or make temp folders:
    all of it lands in ``tmp_path`` and is undone on leaving, the session's settings stay."""
    before = dict(os.environ)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # an example's mkdtemp() lands here
        try:
            yield
        finally:
            for key in set(os.environ) - set(before):
                del os.environ[key]
            for key, value in before.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path) -> None:
    with contained(tmp_path):
        results, report = run_examples(name)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed:\n{report}"


def test_examples_leave_the_session_environment_alone(tmp_path: Path) -> None:
    # local_heads' example points PYCLUSTER_RUNTIME_DIR elsewhere; the heads of later tests
    # must still publish their connection files in the session's folder (tests/conftest.py)
    session_runtime = os.environ["PYCLUSTER_RUNTIME_DIR"]
    cwd = Path.cwd()
    with contained(tmp_path):
        results, report = run_examples("pycluster.cluster.local_heads")
        assert results.attempted > 0 and results.failed == 0, report
        assert os.environ["PYCLUSTER_RUNTIME_DIR"] != session_runtime  # the example did change it
    assert os.environ["PYCLUSTER_RUNTIME_DIR"] == session_runtime
    assert Path.cwd() == cwd
