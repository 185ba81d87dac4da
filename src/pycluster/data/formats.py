"""From what a user gives (a file, a glob, a folder, an fsspec URL) to a list of files of one format."""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import DatasetFormatError
from .paths import DataRoots

__all__ = ["FORMATS", "detect_format", "expand_local"]

# suffix -> format; compressed CSV/JSON keep their inner suffix (data.csv.gz)
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMPRESSION = {".gz", ".bz2", ".xz", ".zst"}


def _format_of(name: str) -> str | None:
    suffixes = [s.lower() for s in Path(name).suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def detect_format(files: list[str], declared: str | None = None) -> str:
    """The one format of ``files`` (or ``declared``); a clear error for mixed or unknown ones."""
    if declared is not None:
        if declared not in {"csv", "parquet", "json"}:
            raise DatasetFormatError(f"unsupported format {declared!r}; supported: csv, parquet, json")
        return declared
    found = {f: _format_of(f) for f in files}
    unknown = [f for f, fmt in found.items() if fmt is None]
    if unknown:
        raise DatasetFormatError(
            f"cannot tell the format of {unknown[0]}: supported suffixes are "
            f"{', '.join(sorted(FORMATS))} (optionally compressed: .gz, .bz2, .xz, .zst), "
            "or pass format='csv'|'parquet'|'json'"
        )
    formats = {fmt for fmt in found.values() if fmt is not None}
    if len(formats) > 1:
        raise DatasetFormatError(
            f"the files mix formats ({', '.join(sorted(formats))}); register each format separately"
        )
    return formats.pop()


def expand_local(path: Path, roots: DataRoots | None = None) -> list[Path]:
    """A file, a folder (its data files, recursively) or a glob -> sorted files; errors if none or empty.

    With ``roots``, every match is resolved (links, '..') before anything looks at it: a glob
    match whose real path is outside the roots is skipped unseen (a link to /etc inside a root
    must not turn the glob into a probe of /etc), a folder entry outside them is refused with
    403, and the files returned are the real paths."""
    if any(ch in str(path) for ch in "*?["):
        matches = [Path(p) for p in glob.glob(str(path), recursive=True)]
        if roots is not None:
            matches = [real for p in matches if (real := roots.inside(p)) is not None]
        files = [p for p in matches if p.is_file()]
        if not files:
            where = " inside the data roots" if roots is not None else ""
            raise DatasetFormatError(f"{path} matches no data files{where}")
    elif path.is_dir():
        entries = [p for p in path.rglob("*") if _format_of(p.name) and not p.name.startswith((".", "_"))]
        if roots is not None:
            entries = roots.check_all(entries)
        files = [p for p in entries if p.is_file()]
    elif path.is_file():
        files = [roots.check(path) if roots is not None else path]
    else:
        raise DatasetFormatError(f"{path} does not exist")
    if not files:
        raise DatasetFormatError(f"{path} matches no data files")
    empty = [f for f in files if f.stat().st_size == 0]
    if empty:
        raise DatasetFormatError(f"{empty[0]} is empty; remove it or register the other files")
    return sorted(files)
