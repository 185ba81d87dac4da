"""Data roots against a symlink inside a root that leads to a folder outside it: matches are
resolved before anything looks at them, and a refusal says the same whether a file exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REGISTER = "/api/processing/data/register"


@pytest.fixture
def linked(data_root: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``(folder inside the root, folder outside it)``; the inside one holds a good CSV and
    ``elsewhere``, a link to the outside folder, which holds a CSV and an empty file."""
    outside = tmp_path / "outside-the-root"
    outside.mkdir()
    (outside / "secret.csv").write_text("password,owner\nhunter2,root\n")
    (outside / "subuid.csv").write_text("")  # an empty file: the old code answered "... is empty"
    inside = data_root / "roots-test"
    inside.mkdir()
    (inside / "good.csv").write_text("a,b\n1,2\n")
    (inside / "elsewhere").symlink_to(outside, target_is_directory=True)
    try:
        yield inside, outside
    finally:
        (inside / "elsewhere").unlink()
        (inside / "good.csv").unlink()
        inside.rmdir()


def _register(api: httpx.Client, path: Path | str) -> httpx.Response:
    return api.post(REGISTER, json={"path": str(path)})


def test_a_glob_through_a_link_out_of_the_root_looks_at_nothing_there(
    api: httpx.Client, linked: tuple[Path, Path]
) -> None:
    inside, outside = linked
    for pattern in (inside / "elsewhere" / "*", inside / "*" / "*.csv"):
        answer = _register(api, pattern)
        detail = answer.json()["detail"]
        # refused for the folder, or its matches skipped unseen: never "subuid.csv is empty"
        assert answer.status_code in (403, 422), answer.text
        if answer.status_code == 422:
            assert "matches no data files inside the data roots" in detail
        for secret in (str(outside), "secret", "subuid", "empty"):
            assert secret not in detail


def test_a_recursive_glob_registers_only_what_is_inside(api: httpx.Client, linked: tuple[Path, Path]) -> None:
    inside, _ = linked
    answer = _register(api, inside / "**" / "*.csv")
    assert answer.status_code == 200, answer.text
    dataset = answer.json()["dataset"]
    assert dataset["files"] == 1 and dataset["columns"] == ["a", "b"]
    api.delete(f"/api/processing/data/{dataset['dataset_id']}")


def test_outside_is_403_and_the_same_whether_the_file_exists(
    api: httpx.Client, linked: tuple[Path, Path]
) -> None:
    inside, outside = linked
    details = []
    for name in ("secret.csv", "no-such-file.csv"):
        answer = _register(api, inside / "elsewhere" / name)
        assert answer.status_code == 403, answer.text
        detail = answer.json()["detail"]
        assert str(outside) not in detail
        details.append(detail.replace(name, "NAME"))
    assert details[0] == details[1]
    for path in (outside / "secret.csv", outside / "missing.csv"):
        answer = _register(api, path)
        assert answer.status_code == 403 and "outside the data roots" in answer.json()["detail"]
