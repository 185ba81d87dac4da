from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pycluster import HeadNode


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read a pycluster.yaml or PYCLUSTER_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(("PYCLUSTER_", "DASK_N_WORKERS", "DASK_THREADS", "DASK_MEMORY")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    _test_environment(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="session", autouse=True)
def _session_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same for module- and session-scoped fixtures, which start before function-scoped ones."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _test_environment(monkeypatch, tmp_path_factory)
        yield


def _test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # heads in tests never take the well-known discovery port (suites share this machine),
    # and saved configs and scripts land in a temp folder, never the developer's own
    monkeypatch.setenv("PYCLUSTER_DISCOVERY_PORT", "0")
    monkeypatch.setenv("PYCLUSTER_CONFIG_DIR", str(tmp_path_factory.mktemp("pycluster-config")))
    # and jobs, datasets and results never land in (or get resumed from) the user's data folder
    monkeypatch.setenv("PYCLUSTER_STATE_DIR", str(tmp_path_factory.mktemp("pycluster-state")))
    # and the connection files of running heads (their keys) stay out of the user's runtime folder
    # (one folder for the whole session: module-scoped heads are found from function-scoped tests)
    runtime = tmp_path_factory.getbasetemp() / "pycluster-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    monkeypatch.setenv("PYCLUSTER_RUNTIME_DIR", str(runtime))


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    """A real head with 2 local worker processes, every port picked free on 127.0.0.1."""
    node = HeadNode("test-cluster", scheduler_port=0, dashboard_port=0, dask_dashboard_port=0)
    info = node.start(n_local_workers=2, threads_per_worker=1)
    assert info["status"] == "success", info
    yield node
    node.shutdown()
