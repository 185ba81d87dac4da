"""Per-partition partial statistics and how to merge them.

Each statistic is computed per partition on a worker and merged on the head, so
no partition's rows ever leave its worker:

- count, sum, min, max merge directly; mean and var/std from (count, mean, M2)
  with Chan's parallel algorithm (stable, pandas' ddof=1);
- nunique from the set of distinct values (memory grows with cardinality);
- median/quantile from a sketch: up to ``SKETCH_POINTS`` quantiles per partition
  (exact when a partition has fewer values), merged by weight. The error is under
  1/SKETCH_POINTS of the rank range, documented in docs/how-to/datasets.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NUMERIC_STATS", "SKETCH_POINTS", "STATS", "finish", "merge", "partial", "plain"]

STATS = ("count", "sum", "min", "max", "mean", "std", "var", "nunique", "median", "quantile")
NUMERIC_STATS = frozenset({"sum", "mean", "std", "var", "median", "quantile"})
SKETCH_POINTS = 1001


def partial(series: pd.Series, stats: set[str]) -> dict[str, Any]:
    """The partial statistics of one partition's column that ``stats`` need."""
    values = series.dropna()
    out: dict[str, Any] = {"count": int(values.size)}
    if stats & {"min", "max"}:
        out["min"] = values.min() if values.size else None
        out["max"] = values.max() if values.size else None
    if stats & {"sum", "mean", "std", "var"}:
        arr = values.to_numpy(dtype="float64")
        out["sum"] = float(arr.sum())
        out["mean"] = float(arr.mean()) if arr.size else 0.0
        out["m2"] = float(((arr - out["mean"]) ** 2).sum()) if arr.size else 0.0
    if "nunique" in stats:
        out["distinct"] = set(values.unique().tolist())
    if stats & {"median", "quantile"}:
        out["sketch"] = _sketch(values.to_numpy(dtype="float64"))
    return out


def grouped_partials(
    df: pd.DataFrame, keys: list[str], column: str, stats: set[str]
) -> dict[Any, dict[str, Any]]:
    """``partial`` for every group of ``df`` at once, vectorised (no sub-frame per group)."""
    grouped = df.groupby(keys, dropna=False, sort=False)[column]
    count = grouped.count()
    columns: dict[str, pd.Series] = {"count": count}
    if stats & {"min", "max"}:
        columns["min"], columns["max"] = grouped.min(), grouped.max()
    if stats & {"sum", "mean", "std", "var"}:
        columns["sum"] = grouped.sum().astype("float64")
        columns["mean"] = grouped.mean().astype("float64").fillna(0.0)
        columns["m2"] = (grouped.var(ddof=0).astype("float64") * count).fillna(0.0)
    if "nunique" in stats:
        columns["distinct"] = grouped.unique()
    out: dict[Any, dict[str, Any]] = {}
    for key in count.index:
        row = {name: series.loc[key] for name, series in columns.items()}
        row["count"] = int(row["count"])
        if "min" in row and not row["count"]:
            row["min"] = row["max"] = None
        if "sum" in row:
            row["sum"], row["mean"], row["m2"] = float(row["sum"]), float(row["mean"]), float(row["m2"])
        if "distinct" in row:
            row["distinct"] = {v for v in row["distinct"].tolist() if not pd.isna(v)}
        out[key] = row
    return out


def _sketch(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points, weights): exact values when few, else evenly spaced quantiles."""
    if arr.size <= SKETCH_POINTS:
        return np.sort(arr), np.ones(arr.size)
    points = np.quantile(arr, np.linspace(0, 1, SKETCH_POINTS))
    return points, np.full(SKETCH_POINTS, arr.size / SKETCH_POINTS)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge partials of one column across partitions (associative)."""
    total: dict[str, Any] = {"count": sum(p["count"] for p in parts)}
    present = [p for p in parts if p["count"]]
    if parts and "min" in parts[0]:
        total["min"] = min((p["min"] for p in present), default=None)
        total["max"] = max((p["max"] for p in present), default=None)
    if parts and "sum" in parts[0]:
        total["sum"] = sum(p["sum"] for p in parts)
        n, mean, m2 = 0, 0.0, 0.0
        for p in present:  # Chan et al.: combine (n, mean, M2) pairwise
            delta = p["mean"] - mean
            n_new = n + p["count"]
            mean += delta * p["count"] / n_new
            m2 += p["m2"] + delta * delta * n * p["count"] / n_new
            n = n_new
        total["mean"], total["m2"] = mean, m2
    if parts and "distinct" in parts[0]:
        total["distinct"] = set().union(*(p["distinct"] for p in parts))
    if parts and "sketch" in parts[0]:
        total["sketch"] = (
            np.concatenate([p["sketch"][0] for p in parts]),
            np.concatenate([p["sketch"][1] for p in parts]),
        )
    return total


def finish(merged: dict[str, Any], stat: str, q: float = 0.5) -> Any:
    """The final value of ``stat`` from merged partials (None where undefined, as JSON)."""
    n = merged["count"]
    if stat == "count":
        return n
    if stat in {"min", "max"}:
        return plain(merged[stat])
    if stat == "sum":
        return merged["sum"]
    if stat == "mean":
        return merged["mean"] if n else None
    if stat in {"var", "std"}:
        if n < 2:
            return None
        var = merged["m2"] / (n - 1)
        return var if stat == "var" else float(np.sqrt(var))
    if stat == "nunique":
        return len(merged["distinct"])
    points, weights = merged["sketch"]
    return _weighted_quantile(points, weights, 0.5 if stat == "median" else q)


def _weighted_quantile(points: np.ndarray, weights: np.ndarray, q: float) -> float | None:
    if points.size == 0:
        return None
    order = np.argsort(points, kind="stable")
    points, weights = points[order], weights[order]
    # positions of each point on pandas' (n - 1) rank scale, then linear interpolation
    ranks = np.cumsum(weights) - weights / 2 - 0.5
    target = q * (weights.sum() - 1)
    return float(np.interp(target, ranks, points))


def plain(value: Any) -> Any:
    """numpy / pandas scalars as plain JSON values."""
    if value is None:
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
