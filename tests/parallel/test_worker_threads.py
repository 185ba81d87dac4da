"""Native thread pools inside local worker processes: bounded to the worker's threads.

Without a bound, torch (and numpy's OpenBLAS) in each worker process starts one thread per
core of the machine, so N workers run N x cores threads on the same cores.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pycluster import DistributedCoordinator
from pycluster.parallel.backends import Backend
from pycluster.parallel.backends.dask_backend import DaskBackend

pytest.importorskip("torch")
# with one core, torch's default (one thread per core) is the bound: nothing to tell apart
pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to see a bound")


def torch_threads(_: object) -> dict[str, Any]:
    """In a worker: torch's intra-op threads, the worker's own threads, and the variables."""
    import torch
    from distributed import get_worker

    return {
        "torch": torch.get_num_threads(),
        "nthreads": get_worker().state.nthreads,
        "env": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def test_torch_in_a_local_worker_uses_the_workers_threads_not_every_core(dask_backend: Backend) -> None:
    # the module's head: 2 single-thread worker processes; one probe per worker
    answers = DistributedCoordinator(dask_backend).map(torch_threads, range(2), chunksize=1)
    for answer in answers:
        assert answer["nthreads"] == 1
        assert answer["torch"] == 1, f"torch runs {answer['torch']} threads in a 1-thread worker"
        assert answer["env"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.mark.slow
def test_thread_counts_the_user_set_are_kept_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice for their own processes
    with DaskBackend(n_workers=1, threads_per_worker=1) as backend:
        (answer,) = DistributedCoordinator(backend).map(torch_threads, [0])
    assert answer["nthreads"] == 1
    assert answer["torch"] == 2
    # not completed with MKL_NUM_THREADS=1: torch would take that smaller count
    assert answer["env"] == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": None}
