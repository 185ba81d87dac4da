"""Dataset operations as jobs: one piece per partition, merged on the head.

Parameters are structured JSON (never an expression evaluated as code). Every
operation accepts ``on_bad_lines``: "error" (default: a malformed CSV row fails the
job, naming its file and line) or "skip" (skipped and counted in the result).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..cluster.secret_files import private_file
from ..jobs.model import Job
from ..jobs.operations import Operation, OperationContext, register_operation
from ..jobs.results import FileResult
from . import partials
from .registry import Dataset, DatasetRegistry
from .spec import DatasetSpec

__all__ = ["DATASET_OPERATIONS", "FILTER_OPS"]

INLINE_ROWS = 1000  # row results up to this many come back inline; more go to a Parquet file

FILTER_OPS: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "==": lambda s, v: s == v,
    "!=": lambda s, v: s != v,
    "<": lambda s, v: s < v,
    "<=": lambda s, v: s <= v,
    ">": lambda s, v: s > v,
    ">=": lambda s, v: s >= v,
    "in": lambda s, v: s.isin(v),
    "not_in": lambda s, v: ~s.isin(v),
    "between": lambda s, v: s.between(v[0], v[1]),
    "contains": lambda s, v: s.astype("string").str.contains(str(v), regex=False, na=False),
    "startswith": lambda s, v: s.astype("string").str.startswith(str(v), na=False),
    "isnull": lambda s, v: s.isna(),
    "notnull": lambda s, v: s.notna(),
}


# ---------------------------------------------------------------- the piece (runs on a worker)
def run_piece(task: tuple[str, dict[str, Any], int, dict[str, Any]]) -> dict[str, Any]:
    """Read one partition and compute the operation's partial result on it."""
    name, spec_dict, index, params = task
    spec = DatasetSpec(**spec_dict)
    df, skipped = spec.read_partition(
        index, _needed_columns(name, params), params.get("on_bad_lines", "error")
    )
    result = _PARTIALS[name](df, params, index)
    result["skipped_rows"] = skipped
    return result


def _needed_columns(name: str, params: dict[str, Any]) -> list[str] | None:
    """The columns an operation reads (projection: CSV parses less, Parquet reads less); None = all."""
    if name in {"filter", "convert", "top_k", "sample"} and not params.get("columns"):
        return None
    wanted = [*(params.get("columns") or []), *(params.get("group_by") or [])]
    wanted += [c["column"] for c in params.get("conditions") or []]
    if params.get("column"):
        wanted.append(params["column"])
    return list(dict.fromkeys(wanted)) or None


def _where(df: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    conditions = params.get("conditions") or []
    if not conditions:
        return df
    masks = [FILTER_OPS[c["op"]](df[c["column"]], c.get("value")) for c in conditions]
    mask = np.logical_or.reduce(masks) if params.get("mode") == "any" else np.logical_and.reduce(masks)
    out = df[mask]
    return out[params["columns"]] if params.get("columns") else out


def _aggregate_partial(df: pd.DataFrame, params: dict[str, Any], index: int) -> dict[str, Any]:
    stats = set(params["operations"])
    df = _where(df, params)
    if not params.get("group_by"):
        return {"columns": {c: partials.partial(df[c], stats) for c in params["columns"]}}
    groups: dict[Any, dict[str, Any]] = {}
    for column in params["columns"]:
        for key, part in partials.grouped_partials(df, params["group_by"], column, stats).items():
            groups.setdefault(_key(key), {})[column] = part
    return {"groups": groups}


def _key(key: Any) -> Any:
    key = key if isinstance(key, tuple) else (key,)
    return tuple(None if (isinstance(k, float) and np.isnan(k)) else partials.plain(k) for k in key)


def _describe_partial(df: pd.DataFrame, params: dict[str, Any], index: int) -> dict[str, Any]:
    stats = {"count", "mean", "std", "min", "max", "quantile"}
    return {"columns": {c: partials.partial(df[c], stats) for c in params["columns"]}}


def _value_counts_partial(df: pd.DataFrame, params: dict[str, Any], index: int) -> dict[str, Any]:
    counts = _where(df, params)[params["column"]].value_counts(dropna=False)
    return {"counts": {partials.plain(k): int(v) for k, v in counts.items()}}


def _rows_partial(df: pd.DataFrame, params: dict[str, Any], index: int) -> dict[str, Any]:
    """filter / convert / top_k / sample: the rows this partition contributes, as Parquet bytes."""
    rows = _where(df, params)
    if params.get("k"):
        rows = rows.sort_values(params["column"], ascending=params.get("ascending", False)).head(params["k"])
    if params.get("n"):
        rng = np.random.default_rng([int(params.get("seed", 0)), index])
        rows = rows.assign(_sample_key=rng.random(len(rows))).nsmallest(params["n"], "_sample_key")
    buffer = io.BytesIO()
    rows.reset_index(drop=True).to_parquet(buffer, index=False)
    return {"rows": len(rows), "parquet": buffer.getvalue()}


_PARTIALS: dict[str, Callable[[pd.DataFrame, dict[str, Any], int], dict[str, Any]]] = {
    "aggregate": _aggregate_partial,
    "describe": _describe_partial,
    "value_counts": _value_counts_partial,
    "filter": _rows_partial,
    "convert": _rows_partial,
    "top_k": _rows_partial,
    "sample": _rows_partial,
}


# ---------------------------------------------------------------- the operations (on the head)
class DatasetOperation(Operation):
    """Common parts: find the dataset, check columns, one piece per partition."""

    def validate(
        self, parameters: dict[str, Any], dataset_id: str | None, context: OperationContext
    ) -> dict[str, Any]:
        if not dataset_id:
            raise ValueError(f"operation {self.name!r} needs a dataset_id (register data first)")
        dataset = _registry(context).get(dataset_id)
        params = dict(parameters)
        # a JSON list or object is no member of a set: it must be refused, not raise TypeError (a 500)
        if _text_or_none(params.setdefault("on_bad_lines", "error")) not in {"error", "skip"}:
            raise ValueError("parameters.on_bad_lines must be 'error' or 'skip'")
        _check_conditions(params, dataset)
        return self.check(params, dataset)

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        return params

    def plan(self, job: Job, context: OperationContext) -> list[Any]:
        spec = _registry(context).get(job.dataset_id or "").spec
        return [(self.name, spec.to_dict(), i, job.parameters) for i in range(spec.npartitions)]

    def piece_function(self) -> Callable[[Any], Any]:
        return run_piece

    def combine(self, job: Job, results: list[Any], context: OperationContext) -> Any:
        out = self.merge(job, results, context)
        skipped = sum(r["skipped_rows"] for r in results)
        if isinstance(out, FileResult):
            out.summary["skipped_rows"] = skipped
        elif isinstance(out, dict):
            out["skipped_rows"] = skipped
        return out

    def merge(self, job: Job, results: list[dict[str, Any]], context: OperationContext) -> Any:
        raise NotImplementedError


class AggregateOperation(DatasetOperation):
    name = "aggregate"
    description = (
        "mean, sum, min, max, count, std, var, nunique, median, quantile of columns; optional group_by"
    )

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        columns = _as_list(params.pop("column", None), params.get("columns"), "column")
        ops = _as_list(params.pop("operation", None), params.get("operations"), "operation")
        for op in ops:
            if op not in partials.STATS:
                raise ValueError(f"unknown aggregate {op!r}; allowed: {', '.join(partials.STATS)}")
        group_by = params.get("group_by")
        group_by = [group_by] if isinstance(group_by, str) else group_by
        _check_columns(dataset, columns + (group_by or []))
        for column in columns:
            for op in ops:
                _check_numeric(dataset, column, op)
        if group_by and {"median", "quantile"} & set(ops):
            raise ValueError(
                "median and quantile with group_by are not supported yet; aggregate without group_by"
            )
        q = params.get("quantile", 0.5)
        if "quantile" in ops and (isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1):
            raise ValueError(f"parameters.quantile must be a number from 0 to 1, got {q!r}")
        return {**params, "columns": columns, "operations": ops, "group_by": group_by, "quantile": q}

    def merge(self, job: Job, results: list[dict[str, Any]], context: OperationContext) -> Any:
        p = job.parameters
        if not p["group_by"]:
            values = {
                c: {
                    op: partials.finish(partials.merge([r["columns"][c] for r in results]), op, p["quantile"])
                    for op in p["operations"]
                }
                for c in p["columns"]
            }
            out: dict[str, Any] = {"results": values}
            if len(p["columns"]) == 1 and len(p["operations"]) == 1:
                out.update(
                    column=p["columns"][0],
                    operation=p["operations"][0],
                    value=values[p["columns"][0]][p["operations"][0]],
                )
            return out
        return {"group_by": p["group_by"], "results": _merge_groups(results, p)}


def _merge_groups(results: list[dict[str, Any]], p: dict[str, Any]) -> list[dict[str, Any]]:
    keys = sorted(
        {k for r in results for k in r["groups"]}, key=lambda k: tuple((x is None, str(x)) for x in k)
    )
    rows = []
    for key in keys:
        row: dict[str, Any] = dict(zip(p["group_by"], key, strict=True))
        for c in p["columns"]:
            merged = partials.merge([r["groups"][key][c] for r in results if key in r["groups"]])
            for op in p["operations"]:
                row[f"{c}_{op}"] = partials.finish(merged, op)
        rows.append(row)
    return rows


class DescribeOperation(DatasetOperation):
    name = "describe"
    description = "count, mean, std, min, quartiles, max of numeric columns (like pandas describe)"

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        numeric = [c for c, t in dataset.dtypes.items() if _is_numeric(t)]
        columns = params.get("columns") or numeric
        _check_columns(dataset, columns)
        for c in columns:
            _check_numeric(dataset, c, "describe")
        return {**params, "columns": columns}

    def merge(self, job: Job, results: list[dict[str, Any]], context: OperationContext) -> Any:
        out = {}
        for c in job.parameters["columns"]:
            m = partials.merge([r["columns"][c] for r in results])
            out[c] = {
                "count": m["count"],
                "mean": partials.finish(m, "mean"),
                "std": partials.finish(m, "std"),
                "min": partials.finish(m, "min"),
                "25%": partials.finish(m, "quantile", 0.25),
                "50%": partials.finish(m, "quantile", 0.5),
                "75%": partials.finish(m, "quantile", 0.75),
                "max": partials.finish(m, "max"),
            }
        return {"describe": out}


class ValueCountsOperation(DatasetOperation):
    name = "value_counts"
    description = "how often each value of a column occurs (most common first)"

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        _check_columns(dataset, [params.get("column")])
        limit = params.get("limit", 100)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise ValueError("parameters.limit must be a whole number from 1 to 100000")
        return {**params, "limit": limit}

    def merge(self, job: Job, results: list[dict[str, Any]], context: OperationContext) -> Any:
        total: dict[Any, int] = {}
        for r in results:
            for value, n in r["counts"].items():
                total[value] = total.get(value, 0) + n
        ranked = sorted(total.items(), key=lambda kv: (-kv[1], str(kv[0])))
        return {
            "column": job.parameters["column"],
            "distinct": len(total),
            "total": sum(total.values()),
            "counts": [{"value": v, "count": n} for v, n in ranked[: job.parameters["limit"]]],
        }


class RowsOperation(DatasetOperation):
    """filter / top_k / sample / convert: rows back inline when few, else one Parquet file."""

    always_file = False

    def merge(self, job: Job, results: list[dict[str, Any]], context: OperationContext) -> Any:
        frames = [pd.read_parquet(io.BytesIO(r["parquet"])) for r in results if r["rows"]]
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        rows = self.final_rows(rows, job.parameters)
        if len(rows) <= INLINE_ROWS and not self.always_file:
            return {"rows": len(rows), "records": _records(rows)}
        path = _write_parquet(rows, context, job)
        return FileResult(
            path, {"rows": len(rows), "format": "parquet", "columns": [str(c) for c in rows.columns]}
        )

    def final_rows(self, rows: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        return rows


class FilterOperation(RowsOperation):
    name = "filter"
    description = 'rows matching conditions such as {"column": "p_value", "op": "<", "value": 0.05}'

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        if not params.get("conditions"):
            raise ValueError("parameters.conditions must list at least one condition")
        _check_columns(dataset, params.get("columns") or [])
        return params


class TopKOperation(RowsOperation):
    name = "top_k"
    description = "the k rows with the largest (or, ascending, smallest) values of a column"

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        _check_columns(dataset, [params.get("column")])
        k = params.get("k", 10)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100_000:
            raise ValueError("parameters.k must be a whole number from 1 to 100000")
        return {**params, "k": k, "ascending": bool(params.get("ascending", False))}

    def final_rows(self, rows: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        if rows.empty:
            return rows
        ordered = rows.sort_values(params["column"], ascending=params["ascending"], kind="stable")
        return ordered.head(params["k"]).reset_index(drop=True)


class SampleOperation(RowsOperation):
    name = "sample"
    description = "n rows chosen uniformly at random (same seed, same rows)"

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        n = params.get("n", 100)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1_000_000:
            raise ValueError("parameters.n must be a whole number from 1 to 1000000")
        return {**params, "n": n, "seed": int(params.get("seed", 0))}

    def final_rows(self, rows: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        if rows.empty:
            return rows
        return rows.nsmallest(params["n"], "_sample_key").drop(columns="_sample_key").reset_index(drop=True)


class ConvertOperation(RowsOperation):
    name = "convert"
    description = (
        "write the dataset (or the rows matching conditions) to Parquet, registered as a new dataset"
    )
    always_file = True

    def check(self, params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
        _check_columns(dataset, params.get("columns") or [])
        return params

    def merge(self, job: Job, results: list[dict[str, Any]], context: OperationContext) -> Any:
        out = super().merge(job, results, context)
        dataset = _registry(context).register(
            out.path, name=job.parameters.get("name") or f"{job.id}-parquet"
        )
        out.summary["dataset_id"] = dataset.id
        return out


# ---------------------------------------------------------------- helpers
def _registry(context: OperationContext) -> DatasetRegistry:
    return context.services["datasets"]


def _as_list(single: Any, many: Any, name: str) -> list[str]:
    values = many if many is not None else ([single] if single is not None else [])
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"parameters.{name} (or {name}s) must name at least one {name}")
    return list(values)


def _check_columns(dataset: Dataset, columns: list[Any]) -> None:
    unknown = [c for c in columns if c not in dataset.columns]
    if unknown:
        raise ValueError(
            f"unknown column {unknown[0]!r}; the dataset's columns are: {', '.join(dataset.columns)}"
        )


def _is_numeric(dtype: str) -> bool:
    return dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float", "bool"))


def _check_numeric(dataset: Dataset, column: str, op: str) -> None:
    if (op in partials.NUMERIC_STATS or op == "describe") and not _is_numeric(dataset.dtypes.get(column, "")):
        raise ValueError(f"column {column!r} holds {dataset.dtypes.get(column)} values; {op} needs numbers")


def _check_conditions(params: dict[str, Any], dataset: Dataset) -> None:
    conditions = params.get("conditions") or []
    if not isinstance(conditions, list):
        raise ValueError("parameters.conditions must be a list of {column, op, value}")
    for i, c in enumerate(conditions):
        if not isinstance(c, dict) or _text_or_none(c.get("op")) not in FILTER_OPS:
            raise ValueError(f"parameters.conditions[{i}].op must be one of: {', '.join(FILTER_OPS)}")
        _check_columns(dataset, [c.get("column")])
        if c["op"] == "between" and not (isinstance(c.get("value"), list) and len(c["value"]) == 2):
            raise ValueError(f"parameters.conditions[{i}].value must be [low, high] for 'between'")
        if c["op"] in {"in", "not_in"} and not isinstance(c.get("value"), list):
            raise ValueError(f"parameters.conditions[{i}].value must be a list for {c['op']!r}")
        # a list or object compared with a column fails on the worker with pandas' words
        # ("Lengths must match", "eq not implemented"): refused here, where it was typed
        values: list[Any] = c["value"] if c["op"] in {"between", "in", "not_in"} else [c.get("value")]
        if not all(v is None or isinstance(v, (str, int, float)) for v in values):
            raise ValueError(
                f"parameters.conditions[{i}].value must be text, a number or null "
                f"(for 'between', 'in' and 'not_in': a list of them)"
            )
    if _text_or_none(params.get("mode", "all")) not in {"all", "any"}:
        raise ValueError("parameters.mode must be 'all' or 'any'")


def _text_or_none(value: Any) -> str | None:
    """``value`` when it is text, else None: safe to look up in a set or dict of names."""
    return value if isinstance(value, str) else None


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts at full precision (to_json would round floats to 10 digits)."""
    cleaned = rows.astype(object).where(rows.notna(), None)
    return [{str(k): partials.plain(v) for k, v in rec.items()} for rec in cleaned.to_dict(orient="records")]


def _write_parquet(rows: pd.DataFrame, context: OperationContext, job: Job) -> str:
    folder = context.state_dir / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path, tmp = folder / f"{job.id}.parquet", folder / f"{job.id}.parquet.tmp"
    rows.to_parquet(private_file(tmp), index=False)  # 0600, as every file of the state directory
    os.replace(tmp, path)  # never present a half-written result
    return str(path)


DATASET_OPERATIONS = [
    AggregateOperation(),
    DescribeOperation(),
    ValueCountsOperation(),
    FilterOperation(),
    TopKOperation(),
    SampleOperation(),
    ConvertOperation(),
]
for _operation in DATASET_OPERATIONS:
    register_operation(_operation)
