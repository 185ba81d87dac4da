from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from pycluster import HeadNode
from tests.helpers import api_client, running_head

N_FILES, ROWS_PER_FILE = 3, 20_000


def make_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    expression = rng.normal(5.0, 2.0, ROWS_PER_FILE)
    expression[rng.random(ROWS_PER_FILE) < 0.02] = np.nan  # some missing values, as real data has
    return pd.DataFrame(
        {
            "gene_id": [f"g{i:05d}" for i in rng.integers(0, 5000, ROWS_PER_FILE)],
            "category": rng.choice(["kinase", "receptor", "transporter", "enzyme"], ROWS_PER_FILE),
            # 9 decimals: JSON lines (10 decimals by pandas' default) then hold exactly these values
            "expression_level": expression.round(9),
            "p_value": rng.random(ROWS_PER_FILE).round(9),
            "reads": rng.integers(0, 1000, ROWS_PER_FILE),
        }
    )


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with the same rows as CSV, Parquet, JSON lines and JSON arrays, in three files each."""
    root = tmp_path_factory.mktemp("data-root")
    for fmt in ("csv", "parquet", "json", "json-array"):
        (root / fmt).mkdir()
    for i in range(N_FILES):
        frame = make_frame(i)
        frame.to_csv(root / "csv" / f"part{i}.csv", index=False)
        frame.to_parquet(root / "parquet" / f"part{i}.parquet", index=False)
        frame.to_json(root / "json" / f"part{i}.jsonl", orient="records", lines=True)
        frame.to_json(root / "json-array" / f"part{i}.json", orient="records", indent=1)  # one array
    return root


@pytest.fixture(scope="session")
def expected() -> pd.DataFrame:
    return pd.concat([make_frame(i) for i in range(N_FILES)], ignore_index=True)


@pytest.fixture(scope="module")
def data_head(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head(
        "data-test", tmp_path_factory.mktemp("data-state"), data_roots=[str(data_root)]
    ) as node:
        yield node


@pytest.fixture(scope="module")
def api(data_head: HeadNode) -> Iterator[httpx.Client]:
    with api_client(data_head) as client:
        yield client
