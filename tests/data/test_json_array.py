"""JSON files holding one array of records: indexed in one streaming pass, read a range at a time."""

from __future__ import annotations

import gzip
import itertools
import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from pycluster import DatasetFormatError
from pycluster.data.json_array import is_json_array, read_range, scan_array
from pycluster.data.registry import DatasetRegistry

# strings holding what a naive splitter would cut at: "},{", brackets, escaped quotes, UTF-8
TRICKY = [
    {"id": i, "text": ['},{"id": 0}', "a]b[c", 'say "hi"\\', "Grüße 東京 🎉", "\n,\t"][i % 5], "x": i * 0.5}
    for i in range(3000)
]


def _ranges(boundaries: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(boundaries))


def test_every_record_comes_back_once_across_the_ranges(tmp_path: Path) -> None:
    path = tmp_path / "tricky.json"
    path.write_text(json.dumps(TRICKY, ensure_ascii=False, indent=2), encoding="utf-8")
    assert is_json_array(str(path))
    index = scan_array(str(path), step=4096)
    assert index.records == len(TRICKY) and len(index.boundaries) > 10
    parts = [read_range(str(path), a, b) for a, b in _ranges(index.boundaries)]
    frame = pd.concat(parts, ignore_index=True)
    assert frame["id"].tolist() == list(range(3000))
    assert frame["text"].tolist() == [r["text"] for r in TRICKY]


def test_gzipped_arrays_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "records.json.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + json.dumps(TRICKY[:500]).encode()))
    index = scan_array(str(path), step=2048)
    parts = [read_range(str(path), a, b) for a, b in _ranges(index.boundaries)]
    assert pd.concat(parts)["id"].tolist() == list(range(500))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[{"a": 1}, 2]', "record 2 (byte 11) is a int, not an object"),
        ('[{"a": 1} {"a": 2}]', "expected ',' or ']' after record 1"),
        ('[{"a": 1}, {"a": 2', "record 2 (byte 11) is not valid JSON"),
        ('[{"a": 1}] extra', "text after the array's closing ']'"),
        ("[]", "empty JSON array"),
    ],
)
def test_a_malformed_array_says_where(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DatasetFormatError, match=r".*".join(map(_escape, says.split()))):
        scan_array(str(path))


def _escape(word: str) -> str:
    import re

    return re.escape(word)


@pytest.mark.slow
def test_scanning_holds_a_few_chunks_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    record = {"gene_id": "g00001", "expression_level": 5.25, "note": "x" * 200}
    with path.open("w") as f:  # about 40 MB, written a record at a time
        f.write("[")
        f.write(",".join(json.dumps({**record, "i": i}) for i in range(170_000)))
        f.write("]")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        index = scan_array(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert index.records == 170_000
    assert peak < 20e6 < size / 2, f"scanning a {size / 1e6:.0f} MB file peaked at {peak / 1e6:.1f} MB"
    # a partition reads only its own bytes: about one segment, whatever the file's size
    a, b = index.boundaries[5], index.boundaries[6]
    assert b - a <= 1_001_000
    assert len(read_range(str(path), a, b)) == pytest.approx((b - a) / 250, rel=0.1)


def test_registering_arrays_partitions_them_like_json_lines(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        (data / f"part{i}.json").write_text(json.dumps(TRICKY[i * 1000 : (i + 1) * 1000]))
    registry = DatasetRegistry(tmp_path / "datasets.db", tmp_path / "state", [])
    try:
        dataset = registry.register(str(data))
        assert dataset.columns == ["id", "text", "x"] and dataset.row_estimate == 2000
        # the document's partition request (n_partitions wins over partition_size_mb)
        info = registry.partition(dataset.id, partition_size_mb=100, n_partitions=10)
        assert info["n_partitions"] == 10
        spec = registry.get(dataset.id).spec
        rows = pd.concat(spec.read_partition(i)[0] for i in range(10))
        assert sorted(rows["id"].tolist()) == sorted(r["id"] for r in TRICKY[:2000])
        (data / "lines.json").write_text('{"id": 1, "text": "a", "x": 1.0}\n')
        with pytest.raises(DatasetFormatError, match="register each layout separately"):
            registry.register(str(data))
    finally:
        registry.close()
