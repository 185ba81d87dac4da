from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pycluster import HeadNode
from tests.helpers import api_client


@pytest.fixture(scope="module")
def api_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    node = HeadNode(
        "api-test",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=str(tmp_path_factory.mktemp("api-state")),
    )
    node.start(n_local_workers=2, threads_per_worker=1)
    yield node
    node.shutdown()


@pytest.fixture(scope="module")
def api(api_head: HeadNode) -> Iterator[httpx.Client]:
    with api_client(api_head) as client:
        yield client
