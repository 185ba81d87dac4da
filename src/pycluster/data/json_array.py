"""JSON files that hold one array of records (``[{...}, {...}]``), read in pieces.

A JSON array cannot be split at an arbitrary byte the way JSON lines can: a ``},{`` may sit
inside a string. So registration streams each file once, in 4 MB chunks, with the standard
library's decoder (``json.JSONDecoder.raw_decode``, record by record, nothing kept), and notes
the byte offset of a record start about every :data:`STEP_BYTES` bytes. A partition is then a
run of those segments: its piece seeks to the first offset and parses only its own bytes, so
neither the head nor a worker ever holds the whole file (larger than memory is fine).

The scan decodes the bytes as Latin-1: every byte is one character, so string positions are
byte offsets, and UTF-8 text inside strings is only looked at, never needed. Compressed
files work too (the scan and the pieces read the decompressed stream; a piece then
decompresses from the start of the file up to its bytes).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "records.json"
>>> _ = path.write_text('[{"a": 1, "b": "x"},\\n {"a": 2, "b": "é"}]', encoding="utf-8")
>>> is_json_array(str(path))
True
>>> index = scan_array(str(path))
>>> index.records, index.boundaries
(2, [1, 41])
>>> read_range(str(path), 1, 41)["b"].tolist()
['x', 'é']
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import DatasetFormatError

__all__ = ["STEP_BYTES", "ArrayIndex", "first_record", "is_json_array", "read_range", "scan_array"]

STEP_BYTES = 1_000_000  # at most this many bytes between boundaries: partitions are whole segments
_MIN_STEP = 16_000  # small files get finer segments (a 2 MB file still splits into 100 partitions)
_MAX_SEGMENTS = 20_000  # per file: a huge file gets coarser segments (the index stays small)
_CHUNK = 4 << 20
_MAX_RECORD = 256 << 20  # one record bigger than this is refused, not read into memory
_SPACE = re.compile(r"[ \t\n\r]*")
_BOM = "\xef\xbb\xbf"  # UTF-8's byte-order mark, as Latin-1


def _open(path: str) -> Any:
    import fsspec

    return fsspec.open(path, "rb", compression="infer")


def is_json_array(path: str) -> bool:
    """Whether the file's first non-blank character is ``[``: one array, not JSON lines."""
    with _open(path) as f:
        head = f.read(4096).decode("latin-1").removeprefix(_BOM).lstrip(" \t\r\n")
    return head.startswith("[")


@dataclass
class ArrayIndex:
    """Where a file's records start: ``boundaries[i]`` to ``boundaries[i+1]`` is one segment
    (whole records, with the commas between them); the last boundary is where the array ends."""

    records: int
    boundaries: list[int]


class _Reader:
    """The file's text (Latin-1) in a sliding buffer; ``base`` is the byte offset of ``buf[0]``."""

    def __init__(self, f: Any) -> None:
        self.f, self.buf, self.base, self.pos, self.eof = f, "", 0, 0, False

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk.decode("latin-1")
        self.base += self.pos
        self.pos = 0
        return True

    def skip_space(self) -> str:
        """The next non-blank character ('' at the end of the file), not consumed."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos : self.pos + 1]


def scan_array(path: str, step: int | None = None) -> ArrayIndex:
    """Stream ``path`` once and index its records (each must be a JSON object)."""
    if step is None:
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        step = max(_MIN_STEP, min(STEP_BYTES, int(fs.size(inner) or 0) // 256))
    decoder = json.JSONDecoder()
    with _open(path) as f:
        r = _Reader(f)
        r.more()
        if r.buf.startswith(_BOM):
            r.pos = len(_BOM)
        if r.skip_space() != "[":
            raise DatasetFormatError(f"{path} is not a JSON array: it does not start with '['")
        r.pos += 1
        records, boundaries = 0, list[int]()
        if r.skip_space() == "]":
            raise DatasetFormatError(f"{path} holds an empty JSON array: no records to register")
        while True:
            start = r.base + r.pos
            try:
                record, end = decoder.raw_decode(r.buf, r.pos)
            except json.JSONDecodeError as exc:
                if len(r.buf) - r.pos < _MAX_RECORD and r.more():
                    continue  # the record goes on in the next chunk
                raise DatasetFormatError(
                    f"{path}: record {records + 1} (byte {start}) is not valid JSON: {exc.msg}"
                ) from None
            if end == len(r.buf) and not r.eof and not isinstance(record, dict):
                r.more()  # a bare number at the buffer's end may go on: read it whole
                continue
            if not isinstance(record, dict):
                raise DatasetFormatError(
                    f"{path}: record {records + 1} (byte {start}) is a {type(record).__name__}, "
                    "not an object; a JSON dataset is an array of objects"
                )
            if not boundaries or start - boundaries[-1] >= step:
                boundaries.append(start)
            records += 1
            r.pos = end
            sep = r.skip_space()
            if sep == ",":
                r.pos += 1
                r.skip_space()
                continue
            if sep != "]":
                raise DatasetFormatError(
                    f"{path}: expected ',' or ']' after record {records} (byte {r.base + r.pos}), "
                    f"found {sep or 'the end of the file'!r}"
                )
            boundaries.append(r.base + r.pos)
            r.pos += 1
            if r.skip_space():
                raise DatasetFormatError(
                    f"{path}: text after the array's closing ']' (byte {r.base + r.pos})"
                )
            return ArrayIndex(records, _coarsen(boundaries))


def _coarsen(boundaries: list[int]) -> list[int]:
    """Keep at most about :data:`_MAX_SEGMENTS` segments (every k-th start, and the end)."""
    if len(boundaries) <= _MAX_SEGMENTS + 1:
        return boundaries
    k = -(-(len(boundaries) - 1) // _MAX_SEGMENTS)
    return [*boundaries[:-1:k], boundaries[-1]]


def read_range(path: str, start: int, end: int, encoding: str = "utf-8") -> pd.DataFrame:
    """The records between byte offsets ``start`` and ``end`` (two boundaries) as a DataFrame,
    typed as pandas types JSON lines (``read_json``), so both layouts give the same columns."""
    with _open(path) as f:
        f.seek(start)
        text = f.read(end - start).decode(encoding)
    body = text.rstrip(" \t\r\n").removesuffix(",")
    return pd.read_json(io.StringIO(f"[{body}]"), orient="records")


def first_record(path: str) -> dict[str, Any]:
    """The array's first record (its keys are the dataset's columns)."""
    decoder = json.JSONDecoder()
    with _open(path) as f:
        r = _Reader(f)
        r.more()
        r.pos = len(_BOM) if r.buf.startswith(_BOM) else 0
        if r.skip_space() != "[":
            raise DatasetFormatError(f"{path} is not a JSON array: it does not start with '['")
        r.pos += 1
        r.skip_space()
        while True:
            try:
                record, _ = decoder.raw_decode(r.buf, r.pos)
                break
            except json.JSONDecodeError as exc:
                if len(r.buf) - r.pos < _MAX_RECORD and r.more():
                    continue
                raise DatasetFormatError(f"{path}: the first record is not valid JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise DatasetFormatError(
            f"{path}: the first record is not an object; a JSON dataset is an array of objects"
        )
    # keys were read as Latin-1: give them back as the UTF-8 text they are
    return {str(k).encode("latin-1").decode("utf-8"): v for k, v in record.items()}
