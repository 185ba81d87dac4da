"""The submit body is one variant per operation: what ``/openapi.json`` says is what a head takes.

A real head over HTTP (the module's one ``api_head``): the document's example is accepted; a body
the schema refuses (a dataset operation without ``dataset_id``, a count given as text, an aggregate
the data layer does not know) gets 422 naming the field; one it allows is queued or, for a dataset
that does not exist, 404 (not 422).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from pycluster import HeadNode
from pycluster.data import partials
from pycluster.data.operations import FILTER_OPS
from pycluster.web.models_jobs import TYPED_OPERATIONS, FilterOp, Stat
from tests.helpers import wait_for_job

SUBMIT = "/api/processing/jobs/submit"


def _variants(api: httpx.Client) -> dict[str, dict[str, Any]]:
    schema = api.get("/openapi.json").json()
    body = schema["paths"][SUBMIT]["post"]["requestBody"]["content"]["application/json"]["schema"]
    defs = schema["components"]["schemas"]
    variants = [defs[v["$ref"].rsplit("/", 1)[-1]] for v in body["oneOf"]]
    return {v["properties"]["operation"]["const"]: v for v in variants}


def test_the_schema_has_one_variant_per_operation_with_its_own_required_fields(api: httpx.Client) -> None:
    variants = _variants(api)
    public = api.get("/api/processing/operations").json()["operations"]
    # every operation the head lists has its variant, and no variant names one it lacks
    assert set(variants) == {o["name"] for o in public} == set(TYPED_OPERATIONS)
    assert "dataset_id" in variants["aggregate"]["required"]
    assert "dataset_id" not in variants["echo"].get("required", [])
    assert "parameters" in variants["value_counts"]["required"]
    # the web layer's names are the data layer's (the models do not import pandas)
    assert set(get_args(Stat)) == set(partials.STATS)
    assert set(get_args(FilterOp)) == set(FILTER_OPS)


def test_the_documents_example_is_accepted(api: httpx.Client, api_head: HeadNode) -> None:
    data = Path(api_head.settings.cluster.state_dir) / "data" / "expression.csv"
    data.write_text("expression_level,group\n1.5,a\n2.5,b\n")
    registered = api.post("/api/processing/data/register", json={"path": str(data), "name": "expr"})
    assert registered.status_code == 200, registered.text
    example = {
        "operation": "aggregate",
        "dataset_id": registered.json()["dataset_id"],
        "parameters": {"column": "expression_level", "operation": "mean"},
        "priority": "HIGH",
        "max_memory_gb": 1.0,
        "max_cores": 2,  # the document asks 4 of a bigger cluster; this head has 2 cores
    }
    answer = api.post(SUBMIT, json=example)
    assert answer.status_code == 200, answer.text
    final = wait_for_job(api, answer.json()["job_id"])
    assert final["status"] == "completed" and final["result"]["value"] == pytest.approx(2.0), final


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "aggregate", "parameters": {"column": "a", "operation": "mean"}}, "dataset_id"),
        ({"operation": "sleep", "parameters": {"seconds": "1"}}, "seconds"),
        ({"operation": "sleep", "parameters": {"pieces": True}}, "pieces"),
        ({"operation": "aggregate", "dataset_id": "d", "parameters": {"operation": "mode"}}, "operation"),
        ({"operation": "value_counts", "dataset_id": "d"}, "parameters"),
        ({"operation": "filter", "dataset_id": "d", "parameters": {"conditions": []}}, "conditions"),
        ({"operation": "filter", "dataset_id": "d", "parameters": {"conditions": [{"column": "a"}]}}, "op"),
    ],
)
def test_a_body_the_schema_refuses_gets_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    answer = api.post(SUBMIT, json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_a_body_the_schema_allows_is_taken(api: httpx.Client) -> None:
    sleep = api.post(SUBMIT, json={"operation": "sleep", "parameters": {"seconds": 0, "pieces": 2}})
    assert sleep.status_code == 200, sleep.text
    # the data is missing, not the body wrong: 404, as the schema cannot know the dataset ids
    top = {"operation": "top_k", "dataset_id": "no-such-dataset", "parameters": {"column": "a", "k": 3}}
    assert api.post(SUBMIT, json=top).status_code == 404
    # an unknown operation still hears which ones there are
    unknown = api.post(SUBMIT, json={"operation": "teleport"})
    assert unknown.status_code == 422 and "available: aggregate" in unknown.text, unknown.text
