from __future__ import annotations

from collections.abc import Iterator

import pytest

from pycluster import HeadNode

TOKEN = "s3cret-discovery-test-token"


@pytest.fixture(scope="module")
def net_head() -> Iterator[HeadNode]:
    """A real head on 127.0.0.1 with an API key, every port (discovery too) picked free, no workers."""
    node = HeadNode(
        "net-test",
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        discovery_port=0,
        api_token=TOKEN,
    )
    node.start()
    yield node
    node.shutdown()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])
