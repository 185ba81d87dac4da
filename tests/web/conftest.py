from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pycluster import HeadNode
from tests.helpers import api_client, running_head


@pytest.fixture(scope="module")
def api_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("api-test", tmp_path_factory.mktemp("api-state")) as node:
        yield node


@pytest.fixture(scope="module")
def api(api_head: HeadNode) -> Iterator[httpx.Client]:
    with api_client(api_head) as client:
        yield client
