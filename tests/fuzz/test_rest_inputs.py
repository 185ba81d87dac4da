"""Property-based fuzzing of the REST inputs that filter and shape jobs, against a real head: the job
list's query parameters and a filter job's conditions. Never a 500: a 2xx or a 4xx with a reason.

The whole API by its schema is schemathesis' job (issue 16 item 9); these go deeper into the two
inputs that are parsed by our code rather than by the schema. Bounded: 200 examples each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycluster import HeadNode
from pycluster.data.operations import FILTER_OPS
from tests.helpers import api_client, running_head

pytestmark = [pytest.mark.chaos, pytest.mark.slow]  # make chaos runs the fuzz too

BOUNDED = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)  # what a JSON encoder can send
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | FINITE | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=10,
)
QUERY = st.text(max_size=12) | st.integers(min_value=-(10**20), max_value=10**20).map(str)


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("fuzz-rest", tmp_path_factory.mktemp("fuzz-rest"), workers=1) as node:
        yield node


@pytest.fixture(scope="module")
def api(head: HeadNode) -> Iterator[httpx.Client]:
    with api_client(head) as client:
        yield client


@pytest.fixture(scope="module")
def dataset_id(head: HeadNode, tmp_path_factory: pytest.TempPathFactory) -> str:
    data = tmp_path_factory.mktemp("fuzz-data") / "rows.csv"
    data.write_text("n,s\n1,a\n2,bb\n3,ccc\n")
    return head.datasets.register(str(data)).id


@BOUNDED
@given(st.dictionaries(st.sampled_from(["status", "limit", "offset"]), QUERY, max_size=3))
def test_job_list_query_parameters_never_give_500(api: httpx.Client, query: dict[str, str]) -> None:
    answer = api.get("/api/processing/jobs/list", params=query)
    assert answer.status_code in {200, 422}, (query, answer.status_code, answer.text)
    if answer.status_code == 422:
        assert answer.json()["detail"], answer.text


CONDITION = st.fixed_dictionaries(
    {"column": st.sampled_from(["n", "s"]) | JSON, "op": st.sampled_from(list(FILTER_OPS)) | JSON},
    optional={"value": JSON},
)


@BOUNDED
@given(
    st.fixed_dictionaries(
        {"conditions": st.lists(CONDITION, max_size=3) | JSON},
        optional={"mode": st.sampled_from(["all", "any"]) | JSON, "on_bad_lines": JSON, "columns": JSON},
    )
)
def test_filter_job_parameters_never_give_500(
    api: httpx.Client, dataset_id: str, parameters: dict[str, Any]
) -> None:
    answer = api.post(
        "/api/processing/jobs/submit",
        json={"operation": "filter", "dataset_id": dataset_id, "parameters": parameters, "priority": "LOW"},
    )
    assert answer.status_code < 500, (parameters, answer.status_code, answer.text)
    if answer.status_code == 200:
        api.post(f"/api/processing/jobs/{answer.json()['job_id']}/cancel")
