"""Backends for the parallel tests: each started once per module, all on 127.0.0.1.

Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is first imported, and
only then keeps a local Ray on loopback; so it is set here, before any test imports Ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pycluster.parallel.backends import Backend, BackendState
from pycluster.parallel.backends.dask_backend import DaskBackend
from pycluster.parallel.backends.local import MultiprocessingBackend
from pycluster.parallel.backends.ray_backend import RayBackend

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

BACKENDS = ["multiprocessing", "dask", "ray"]


@pytest.fixture(scope="module")
def multiprocessing_backend() -> Iterator[Backend]:
    with MultiprocessingBackend(num_workers=2) as backend:
        yield backend


@pytest.fixture(scope="module")
def dask_backend() -> Iterator[Backend]:
    """A pycluster head on 127.0.0.1 (ports 0) with 2 single-thread worker processes."""
    with DaskBackend(n_workers=2) as backend:
        yield backend


@pytest.fixture(scope="module")
def ray_backend() -> Iterator[Backend]:
    """A local Ray with 2 CPUs, started by the backend itself, stopped at module end."""
    import ray

    backend = RayBackend(num_cpus=2).initialize()
    yield backend
    backend.shutdown()
    assert backend.state is BackendState.CLOSED
    assert not ray.is_initialized(), "a Ray the backend started must stop with it"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test that takes ``backend`` runs once per backend (each started once per module)."""
    return request.getfixturevalue(f"{request.param}_backend")
