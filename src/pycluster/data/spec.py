"""A registered dataset's files, format and partitioning, and how one partition is read.

Every operation runs one piece per partition; a piece rebuilds the lazy
dask.dataframe (cheap: metadata and a small sample) and computes only its own
partition with the synchronous scheduler, inside the worker.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from ..errors import DatasetFormatError

__all__ = ["DEFAULT_PARTITION_MB", "DatasetSpec", "read_columns"]

DEFAULT_PARTITION_MB = 64.0


@dataclass
class DatasetSpec:
    format: str
    files: list[str]
    size_bytes: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    partition_size_mb: float | None = None
    n_partitions: int | None = None
    # JSON files holding one array: each file's record boundaries (json_array.scan_array);
    # None for JSON lines and the other formats
    json_arrays: dict[str, list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # ------------------------------------------------------------ lazy frame
    def frame(self, on_bad_lines: str = "error") -> Any:
        """The dataset as a lazy dask DataFrame, partitioned as chosen."""
        import dask.dataframe as dd

        size_mb = self.partition_size_mb or DEFAULT_PARTITION_MB
        if self.n_partitions and self.format != "parquet":
            size_mb = max(0.01, self.size_bytes / 1e6 / self.n_partitions)
        blocksize = max(10_000, int(size_mb * 1e6))
        if self.format == "csv":
            kwargs = {"on_bad_lines": "warn" if on_bad_lines == "skip" else "error", **self.options}
            ddf = dd.read_csv(self.files, blocksize=blocksize, assume_missing=True, **kwargs)
        elif self.format == "json" and self.json_arrays:
            ddf = self._array_frame(blocksize)
        elif self.format == "json":
            ddf = dd.read_json(self.files, lines=True, blocksize=blocksize, **self.options)
        else:
            ddf = dd.read_parquet(self.files, **self.options)
            wanted = self.n_partitions or max(1, math.ceil(self.size_bytes / 1e6 / size_mb))
            if self.n_partitions or self.partition_size_mb:
                ddf = ddf.repartition(npartitions=wanted)
        if self.n_partitions and self.format != "parquet" and ddf.npartitions != self.n_partitions:
            ddf = ddf.repartition(npartitions=self.n_partitions)
        return ddf

    def _array_frame(self, blocksize: int) -> Any:
        """JSON arrays: partitions of whole indexed segments, about ``blocksize`` bytes each."""
        import dask.dataframe as dd

        from .json_array import read_range

        assert self.json_arrays is not None
        encoding = str(self.options.get("encoding", "utf-8"))
        ranges: list[tuple[str, int, int, str]] = []
        for path in self.files:
            bounds = self.json_arrays[path]
            start = bounds[0]
            for i, end in enumerate(bounds[1:], 1):
                if end - start >= blocksize or i == len(bounds) - 1:
                    ranges.append((path, start, end, encoding))
                    start = end
        # types as the first segment has them (read_json on JSON lines reads a first block too)
        first = self.files[0]
        start, end = self.json_arrays[first][0], self.json_arrays[first][1]
        meta = read_range(first, start, end, encoding).head(0)
        return dd.from_map(_read_range, ranges, meta=meta, enforce_metadata=False)

    @property
    def npartitions(self) -> int:
        # counting partitions reads a sample; a malformed row there is the pieces' business
        return int(self.frame(on_bad_lines="skip").npartitions)

    # ------------------------------------------------------------ one partition
    def read_partition(
        self, index: int, columns: list[str] | None = None, on_bad_lines: str = "error"
    ) -> tuple[pd.DataFrame, int]:
        """Partition ``index`` as pandas, and the number of malformed CSV lines skipped."""
        from pandas.errors import ParserError

        try:
            with warnings.catch_warnings():
                # building the frame reads a sample again: its skipped lines are not this partition's
                warnings.simplefilter("ignore")
                part = _cached_frame(self, on_bad_lines).get_partition(index)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                df = (part[columns] if columns is not None else part).compute(scheduler="sync")
        except ParserError as exc:
            raise DatasetFormatError(self._describe_bad_row(exc)) from None
        except (ValueError, TypeError) as exc:
            raise DatasetFormatError(f"cannot read partition {index} of {self._where()}: {exc}") from None
        skipped = sum(str(w.message).count("Skipping line") for w in caught)
        return df, skipped

    def _where(self) -> str:
        return self.files[0] if len(self.files) == 1 else f"{len(self.files)} files ({self.files[0]}, ...)"

    def _describe_bad_row(self, exc: Exception) -> str:
        """Find the file and line of the first malformed CSV row (the parser only knows its block)."""
        sep = self.options.get("sep", ",")
        for path in self.files:
            found = _first_bad_line(path, sep)
            if found is not None:
                line, expected, saw = found
                return (
                    f"malformed CSV row in {path} line {line}: expected {expected} fields, saw {saw}. "
                    "Fix the file, or pass parameters.on_bad_lines='skip' to skip and count such rows"
                )
        return f"malformed CSV in {self._where()}: {exc}"


_FRAME_CACHE: dict[str, tuple[float, Any]] = {}
_FRAME_TTL = 30.0  # seconds: one job's pieces on a worker share a frame; files changed later are re-read


def _cached_frame(spec: DatasetSpec, on_bad_lines: str) -> Any:
    """The lazy frame of ``spec`` in this worker process, built once per job rather than per piece.

    Building it reads a CSV sample or every Parquet file's footer: per piece, that was most of
    the gap to hand-written dask on many small partitions.
    """
    import json
    import time

    key = json.dumps([spec.to_dict(), on_bad_lines], sort_keys=True, default=str)
    now = time.monotonic()
    for stale in [k for k, (t, _) in _FRAME_CACHE.items() if now - t > _FRAME_TTL]:
        del _FRAME_CACHE[stale]
    if key not in _FRAME_CACHE:
        _FRAME_CACHE[key] = (now, spec.frame(on_bad_lines))
    return _FRAME_CACHE[key][1]


def _read_range(part: tuple[str, int, int, str]) -> pd.DataFrame:
    from .json_array import read_range

    return read_range(*part)


def _first_bad_line(path: str, sep: str) -> tuple[int, int, int] | None:
    import fsspec

    with fsspec.open(path, "rt", compression="infer", newline="") as f:
        reader = csv.reader(f, delimiter=sep)
        header = next(reader, None)
        if header is None:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(header), len(row)
    return None


def read_columns(path: str, fmt: str, options: dict[str, Any]) -> list[str]:
    """The column names of one file, read cheaply (header, schema or first record)."""
    import fsspec

    if fmt == "parquet":
        import pyarrow.parquet as pq

        with fsspec.open(path, "rb") as f:
            return list(pq.read_schema(f).names)
    with fsspec.open(path, "rt", compression="infer", newline="") as f:
        if fmt == "csv":
            return next(csv.reader(f, delimiter=options.get("sep", ",")), [])
        import json

        from .json_array import first_record, is_json_array

        if is_json_array(path):
            return list(first_record(path))
        first = f.readline()
        try:
            record = json.loads(first)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(
                f"{path} line 1 is not a JSON object ({exc}); JSON datasets are JSON lines"
            ) from None
        if not isinstance(record, dict):
            raise DatasetFormatError(
                f"{path} line 1 is not a JSON object; JSON datasets hold one object per line"
            )
        return list(record)
