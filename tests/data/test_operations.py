"""Every dataset operation, on every format, against pandas on the same data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pycluster import HeadNode, JobStatus

FORMATS = {"csv": "csv/*.csv", "parquet": "parquet", "json": "json/*.jsonl"}


@pytest.fixture(scope="module", params=list(FORMATS))
def dataset_id(request: pytest.FixtureRequest, data_head: HeadNode, data_root: Path) -> str:
    dataset = data_head.datasets.register(str(data_root / FORMATS[request.param]), name=request.param)
    data_head.datasets.partition(dataset.id, n_partitions=6)
    return dataset.id


def run(head: HeadNode, dataset_id: str, op_name: str, /, **parameters: Any) -> Any:
    job = head.jobs.submit_job(op_name, parameters, dataset_id=dataset_id)
    done = head.jobs.wait(job.id, 120)
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.pieces_total == 6 and done.progress == 100.0
    return head.jobs.results.load(done)


def close(a: float | None, b: float, rel: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


@pytest.mark.parametrize("stat", ["mean", "sum", "min", "max", "count", "std", "var", "nunique"])
def test_exact_aggregates_match_pandas(
    data_head: HeadNode, dataset_id: str, expected: pd.DataFrame, stat: str
) -> None:
    result = run(data_head, dataset_id, "aggregate", column="expression_level", operation=stat)
    assert close(result["value"], float(getattr(expected["expression_level"], stat)()), rel=1e-6)


def test_median_and_quantiles_are_within_the_documented_error(
    data_head: HeadNode, dataset_id: str, expected: pd.DataFrame
) -> None:
    column = expected["expression_level"].dropna()
    tolerance = (column.max() - column.min()) / 1000
    median = run(data_head, dataset_id, "aggregate", column="expression_level", operation="median")["value"]
    assert abs(median - column.median()) <= tolerance
    q90 = run(
        data_head, dataset_id, "aggregate", column="expression_level", operation="quantile", quantile=0.9
    )
    assert abs(q90["value"] - column.quantile(0.9)) <= tolerance


def test_several_columns_and_group_by(data_head: HeadNode, dataset_id: str, expected: pd.DataFrame) -> None:
    both = run(data_head, dataset_id, "aggregate", columns=["reads", "p_value"], operations=["sum", "max"])
    assert both["results"]["reads"]["sum"] == expected["reads"].sum()
    assert close(both["results"]["p_value"]["max"], expected["p_value"].max())
    grouped = run(
        data_head,
        dataset_id,
        "aggregate",
        column="expression_level",
        operations=["mean", "count", "std"],
        group_by="category",
    )
    truth = expected.groupby("category")["expression_level"].agg(["mean", "count", "std"])
    assert [r["category"] for r in grouped["results"]] == sorted(truth.index)
    for row in grouped["results"]:
        assert close(row["expression_level_mean"], truth.loc[row["category"], "mean"], rel=1e-9)
        assert row["expression_level_count"] == truth.loc[row["category"], "count"]
        assert close(row["expression_level_std"], truth.loc[row["category"], "std"], rel=1e-9)


def test_filter_with_structured_conditions(
    data_head: HeadNode, dataset_id: str, expected: pd.DataFrame
) -> None:
    result = run(
        data_head,
        dataset_id,
        "filter",
        conditions=[
            {"column": "p_value", "op": "<", "value": 0.01},
            {"column": "category", "op": "in", "value": ["kinase", "enzyme"]},
        ],
    )
    truth = expected[(expected.p_value < 0.01) & expected.category.isin(["kinase", "enzyme"])]
    assert result["rows"] == len(truth) and len(result["records"]) == len(truth)
    assert sorted(r["gene_id"] for r in result["records"]) == sorted(truth.gene_id)
    either = run(
        data_head,
        dataset_id,
        "filter",
        mode="any",
        conditions=[
            {"column": "reads", "op": ">=", "value": 998},
            {"column": "p_value", "op": "<", "value": 0.001},
        ],
    )
    assert either["rows"] == ((expected.reads >= 998) | (expected.p_value < 0.001)).sum()


def test_large_filter_result_is_a_parquet_file(
    data_head: HeadNode, dataset_id: str, expected: pd.DataFrame
) -> None:
    frame = run(data_head, dataset_id, "filter", conditions=[{"column": "p_value", "op": "<", "value": 0.5}])
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == (expected.p_value < 0.5).sum()
    assert sorted(frame.gene_id) == sorted(expected[expected.p_value < 0.5].gene_id)


def test_describe(data_head: HeadNode, dataset_id: str, expected: pd.DataFrame) -> None:
    described = run(data_head, dataset_id, "describe")["describe"]
    assert set(described) == {"expression_level", "p_value", "reads"}
    truth = expected["reads"].describe()
    got = described["reads"]
    assert (
        got["count"] == truth["count"]
        and close(got["mean"], truth["mean"])
        and close(got["std"], truth["std"])
    )
    assert got["min"] == truth["min"] and got["max"] == truth["max"]
    assert abs(got["50%"] - truth["50%"]) <= 1.0


def test_value_counts(data_head: HeadNode, dataset_id: str, expected: pd.DataFrame) -> None:
    result = run(data_head, dataset_id, "value_counts", column="category", limit=2)
    truth = expected.category.value_counts()
    assert result["distinct"] == 4 and result["total"] == len(expected)
    assert [(c["value"], c["count"]) for c in result["counts"]] == list(truth.items())[:2]


def test_top_k_and_sample(data_head: HeadNode, dataset_id: str, expected: pd.DataFrame) -> None:
    top = run(data_head, dataset_id, "top_k", column="reads", k=5)
    assert [r["reads"] for r in top["records"]] == expected.reads.nlargest(5).tolist()
    low = run(data_head, dataset_id, "top_k", column="p_value", k=3, ascending=True)
    assert [r["p_value"] for r in low["records"]] == pytest.approx(expected.p_value.nsmallest(3).tolist())
    sample = run(data_head, dataset_id, "sample", n=20, seed=7)
    again = run(data_head, dataset_id, "sample", n=20, seed=7)
    assert sample["rows"] == 20 and sample["records"] == again["records"]
    assert {r["gene_id"] for r in sample["records"]} <= set(expected.gene_id)


def test_convert_to_parquet_registers_a_new_dataset(
    data_head: HeadNode, dataset_id: str, expected: pd.DataFrame
) -> None:
    summary = data_head.jobs.wait(
        data_head.jobs.submit_job(
            "convert",
            {"conditions": [{"column": "category", "op": "==", "value": "receptor"}]},
            dataset_id=dataset_id,
        ).id,
        120,
    )
    assert summary.status == JobStatus.COMPLETED, summary.error
    new_id = summary.result["dataset_id"]
    converted = data_head.datasets.get(new_id)
    assert converted.spec.format == "parquet"
    written = pd.read_parquet(converted.spec.files[0])
    assert len(written) == (expected.category == "receptor").sum()


def test_group_by_min_max_sum_nunique(data_head: HeadNode, dataset_id: str, expected: pd.DataFrame) -> None:
    grouped = run(
        data_head,
        dataset_id,
        "aggregate",
        columns=["reads", "expression_level"],
        operations=["min", "max", "sum", "nunique"],
        group_by=["category"],
    )
    truth = expected.groupby("category").agg(["min", "max", "sum", "nunique"])
    for row in grouped["results"]:
        for column in ("reads", "expression_level"):
            for stat in ("min", "max", "sum", "nunique"):
                assert close(
                    row[f"{column}_{stat}"], float(truth.loc[row["category"], (column, stat)]), rel=1e-9
                )


def test_json_array_files_give_the_same_answers(
    data_head: HeadNode, data_root: Path, expected: pd.DataFrame
) -> None:
    # .json files each holding one array of records: read a byte range per piece, as JSON lines are
    dataset = data_head.datasets.register(str(data_root / "json-array"), name="json-array")
    data_head.datasets.partition(dataset.id, n_partitions=6)
    result = run(data_head, dataset.id, "aggregate", column="expression_level", operation="mean")
    assert close(result["value"], float(expected["expression_level"].mean()), rel=1e-6)
    grouped = run(data_head, dataset.id, "aggregate", column="reads", operation="sum", group_by="category")
    truth = expected.groupby("category")["reads"].sum()
    assert {r["category"]: r["reads_sum"] for r in grouped["results"]} == truth.to_dict()
    rows = run(data_head, dataset.id, "filter", conditions=[{"column": "reads", "op": "<", "value": 5}])
    assert rows["rows"] == len(rows["records"]) == (expected["reads"] < 5).sum()
