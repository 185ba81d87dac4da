"""Datasets as rows beside the jobs: register, inspect, partition, delete.

>>> ds = head.datasets.register("data/expression/*.csv", name="expression")  # doctest: +SKIP
>>> head.datasets.inspect(ds.id)["columns"]                                   # doctest: +SKIP
['gene_id', 'expression_level', 'p_value']
"""

from __future__ import annotations

import csv
import json
import math
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..cluster.secret_files import private_dir, private_file
from ..errors import DataAccessError, DatasetFormatError, DatasetNotFoundError
from .formats import detect_format, expand_local
from .paths import DataRoots
from .spec import DatasetSpec, read_columns

__all__ = ["Dataset", "DatasetRegistry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, name TEXT, source TEXT, spec TEXT, columns TEXT, dtypes TEXT,
    row_estimate INTEGER, created_at REAL
);
"""
_SCHEMA_CHECK_LIMIT = 500  # files whose headers are compared at registration
_NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


@dataclass
class Dataset:
    id: str
    name: str
    source: str
    spec: DatasetSpec
    columns: list[str]
    dtypes: dict[str, str]
    row_estimate: int
    created_at: float

    def summary(self) -> dict[str, Any]:
        return {
            "dataset_id": self.id,
            "name": self.name,
            "source": self.source,
            "format": self.spec.format,
            "files": len(self.spec.files),
            "size_mb": round(self.spec.size_bytes / 1e6, 3),
            "columns": self.columns,
            "row_estimate": self.row_estimate,
            "created_at": self.created_at,
        }


class DatasetRegistry:
    """Registered datasets of one state directory."""

    def __init__(
        self, db_path: Path, state_dir: Path, roots: list[str], allow_remote_urls: bool = False
    ) -> None:
        self.state_dir = state_dir
        self.uploads = state_dir / "data" / "uploads"
        private_dir(self.uploads.parent)
        private_dir(self.uploads)
        self.roots = DataRoots([state_dir / "data", *roots])
        self.allow_remote_urls = allow_remote_urls
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(private_file(db_path)), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    # ------------------------------------------------------------ register
    def register(
        self,
        path: str,
        name: str | None = None,
        format: str | None = None,
        options: dict[str, Any] | None = None,
        trusted: bool = True,
    ) -> Dataset:
        """Register a file, glob, folder or fsspec URL. ``trusted=False`` (REST) enforces the data roots."""
        _check_text(str(path), "path")
        if name is not None:
            _check_text(name, "dataset name")
        files, size = self._resolve(str(path), trusted)
        fmt = detect_format(files, format)
        opts = dict(options or {})
        columns = _common_columns(files, fmt, opts)
        arrays = _json_arrays(files) if fmt == "json" else None
        spec = DatasetSpec(fmt, files, size, opts, json_arrays=arrays[0] if arrays else None)
        dtypes = _dtypes(spec)
        dataset = Dataset(
            id=f"dataset_{secrets.token_hex(5)}",
            name=name or Path(str(path)).stem or "dataset",
            source=str(path),
            spec=spec,
            columns=columns,
            dtypes=dtypes,
            row_estimate=arrays[1] if arrays else _row_estimate(spec),  # an array's scan counted them
            created_at=time.time(),
        )
        self._save(dataset)
        return dataset

    def save_upload(
        self, filename: str, stream: BinaryIO, name: str | None = None, limit: int = 200_000_000
    ) -> Dataset:
        """Store an uploaded file under the uploads folder and register it. A failed upload
        leaves nothing behind: its folder is removed whatever went wrong."""
        safe = Path(filename).name
        if not safe or safe.startswith(".") or "\x00" in safe:
            raise DatasetFormatError(f"upload file name {filename!r} is not usable; name it like data.csv")
        if len(safe.encode("utf-8", "surrogatepass")) > _NAME_MAX:
            raise DatasetFormatError(
                f"upload file name is {len(safe)} characters long; the limit is {_NAME_MAX} bytes"
            )
        _check_text(safe, "upload file name")
        if name is not None:
            _check_text(name, "dataset name")
        detect_format([safe])
        folder = self.uploads / secrets.token_hex(5)
        folder.mkdir(mode=0o700)
        try:
            target = folder / safe
            _receive(stream, target, limit)
            return self.register(str(target), name=name or Path(safe).stem, trusted=True)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _resolve(self, path: str, trusted: bool) -> tuple[list[str], int]:
        protocol = path.split("://", 1)[0] if "://" in path else "file"
        if protocol != "file":
            if not trusted and not self.allow_remote_urls:
                raise DataAccessError(
                    f"{protocol}:// URLs are off for REST registration; register it from Python, "
                    "or start the head with PYCLUSTER_DATA_ALLOW_REMOTE_URLS=true"
                )
            return _expand_url(path)
        if "\x00" in path:
            raise DatasetFormatError("a path cannot contain a NUL character")
        local = Path(path.removeprefix("file://"))
        try:
            # '~' is the server's home, meaningless to a remote caller: only trusted callers get it
            local = local.expanduser() if trusted else local
            roots = None if trusted else self.roots
            if roots is not None:
                roots.check(local.parent if any(c in str(local) for c in "*?[") else local)
            # with roots, every match is resolved and checked before it is looked at
            files = expand_local(local, roots)
            return [str(f) for f in files], sum(f.stat().st_size for f in files)
        except (OSError, RuntimeError) as exc:
            raise DatasetFormatError(f"cannot read {path}: {exc}") from None

    # ------------------------------------------------------------ read, change, delete
    def get(self, dataset_id: str) -> Dataset:
        with self._lock:
            row = self._db.execute("SELECT * FROM datasets WHERE id = ?", [dataset_id]).fetchone()
        if row is None:
            raise DatasetNotFoundError(
                f"no dataset with id {dataset_id!r}; list them with GET /api/processing/data/list"
            )
        return _from_row(row)

    def list(self) -> list[Dataset]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM datasets ORDER BY created_at DESC").fetchall()
        return [_from_row(r) for r in rows]

    def delete(self, dataset_id: str) -> None:
        dataset = self.get(dataset_id)
        with self._lock:
            self._db.execute("DELETE FROM datasets WHERE id = ?", [dataset_id])
        for f in dataset.spec.files:  # uploaded copies are ours to remove; registered paths are not
            p = Path(f)
            if self.uploads in p.parents:
                shutil.rmtree(p.parent, ignore_errors=True)

    def inspect(self, dataset_id: str) -> dict[str, Any]:
        dataset = self.get(dataset_id)
        return {
            **dataset.summary(),
            "dtypes": dataset.dtypes,
            "n_partitions": dataset.spec.npartitions,
            "partition_size_mb": dataset.spec.partition_size_mb,
            "file_list": dataset.spec.files[:100],
        }

    def partition(
        self, dataset_id: str, partition_size_mb: float | None = None, n_partitions: int | None = None
    ) -> dict[str, Any]:
        """Choose the partitioning later jobs use; the document's ``partition_info``."""
        if partition_size_mb is None and n_partitions is None:
            raise DatasetFormatError("give partition_size_mb or n_partitions (or both: n_partitions wins)")
        dataset = self.get(dataset_id)
        dataset.spec.partition_size_mb = partition_size_mb
        dataset.spec.n_partitions = n_partitions
        actual = dataset.spec.npartitions
        self._save(dataset)
        return {
            "n_partitions": actual,
            "columns": dataset.columns,
            "estimated_size_mb": round(dataset.spec.size_bytes / 1e6, 2),
            "partition_size_mb": round(dataset.spec.size_bytes / 1e6 / max(1, actual), 3),
        }

    def _save(self, d: Dataset) -> None:
        values = [
            d.id,
            d.name,
            d.source,
            json.dumps(d.spec.to_dict()),
            json.dumps(d.columns),
            json.dumps(d.dtypes),
            d.row_estimate,
            d.created_at,
        ]
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO datasets VALUES ({', '.join('?' * len(values))})", values
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    stop = close  # as a head service


def _from_row(row: tuple[Any, ...]) -> Dataset:
    id_, name, source, spec, columns, dtypes, rows, created = row
    return Dataset(
        id_,
        name,
        source,
        DatasetSpec(**json.loads(spec)),
        json.loads(columns),
        json.loads(dtypes),
        int(rows),
        float(created),
    )


def _expand_url(url: str) -> tuple[list[str], int]:
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(url)
    if not paths:
        raise DatasetFormatError(f"{url} matches no files")
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    sizes = [fs.size(p) or 0 for p in paths]
    return [f"{protocol}://{p}" if "://" not in p else p for p in paths], int(sum(sizes))


def _check_text(text: str, what: str) -> None:
    """Lone surrogates (JSON's "\\ud800") cannot be stored, written to disk or answered."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "backslashreplace").decode()
        raise DatasetFormatError(
            f"the {what} '{shown}' is not valid Unicode text (it holds a lone surrogate)"
        ) from None


def _receive(stream: BinaryIO, target: Path, limit: int) -> None:
    written = 0
    with open(private_file(target), "wb") as out:
        while chunk := stream.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise DatasetFormatError(f"upload over {limit // 1_000_000} MB; register a path instead")
            out.write(chunk)


def _columns_of(path: str, fmt: str, options: dict[str, Any]) -> list[str]:
    """``read_columns``, with a file that is not what its suffix says as a DatasetFormatError."""
    try:
        return read_columns(path, fmt, options)
    except DatasetFormatError:
        raise
    except UnicodeDecodeError as exc:
        encoding = options.get("encoding", "utf-8")
        raise DatasetFormatError(
            f"{path} is not {fmt.upper()} text in {encoding} ({exc.reason} at byte {exc.start}); "
            "is it a binary file, or does it need options.encoding?"
        ) from None
    except (ValueError, csv.Error, EOFError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DatasetFormatError(f"{path} is not a readable {fmt} file: {exc}") from None


def _common_columns(files: list[str], fmt: str, options: dict[str, Any]) -> list[str]:
    first = _columns_of(files[0], fmt, options)
    if not first:
        raise DatasetFormatError(f"{files[0]} has no columns")
    for other in files[1:_SCHEMA_CHECK_LIMIT]:
        columns = _columns_of(other, fmt, options)
        if columns != first:
            missing, extra = sorted(set(first) - set(columns)), sorted(set(columns) - set(first))
            raise DatasetFormatError(
                f"schemas differ: {other} has columns {columns}, {files[0]} has {first} "
                f"(missing {missing}, extra {extra}); register files with the same columns together"
            )
    return first


def _dtypes(spec: DatasetSpec) -> dict[str, str]:
    try:
        # a malformed row must not block registration: jobs report it (file and line) or skip it
        meta = spec.frame(on_bad_lines="skip")._meta
    except Exception as exc:  # dask reads a sample to infer types: that is where bad files show first
        raise DatasetFormatError(f"cannot read {spec.files[0]}: {exc}") from None
    return {str(k): str(v) for k, v in meta.dtypes.items()}


def _json_arrays(files: list[str]) -> tuple[dict[str, list[int]], int] | None:
    """Each JSON array file's record boundaries and the records in all (one streaming pass
    per file); None for JSON lines."""
    from .json_array import is_json_array, scan_array

    arrays = [is_json_array(f) for f in files]
    if not any(arrays):
        return None
    if not all(arrays):
        lines = files[arrays.index(False)]
        array = files[arrays.index(True)]
        raise DatasetFormatError(
            f"{array} holds one JSON array but {lines} is JSON lines; register each layout separately"
        )
    indexes = {f: scan_array(f) for f in files}
    return {f: i.boundaries for f, i in indexes.items()}, sum(i.records for i in indexes.values())


def _row_estimate(spec: DatasetSpec) -> int:
    import fsspec

    if spec.format == "parquet":
        import pyarrow.parquet as pq

        total = 0
        for path in spec.files:
            with fsspec.open(path, "rb") as f:
                total += pq.ParquetFile(f).metadata.num_rows
        return total
    with fsspec.open(spec.files[0], "rb", compression="infer") as f:
        sample = f.read(1 << 20)
    lines = max(1, sample.count(b"\n"))
    return math.ceil(spec.size_bytes / (len(sample) / lines)) - (
        len(spec.files) if spec.format == "csv" else 0
    )
