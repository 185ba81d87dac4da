"""Datasets larger than memory: registry, partitioning and operations on CSV, Parquet and JSON lines."""

from __future__ import annotations

from .registry import Dataset, DatasetRegistry
from .spec import DatasetSpec

__all__ = ["Dataset", "DatasetRegistry", "DatasetSpec"]
