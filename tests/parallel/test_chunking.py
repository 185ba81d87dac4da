"""How work is cut into tasks: pure functions, no backend needed."""

from __future__ import annotations

import pytest

from pycluster.parallel.chunking import plan_chunks


@pytest.mark.parametrize(
    ("n_items", "large_chunks_per_worker", "n_chunks"),
    [
        (16, 4, 16),  # small inputs: one item per task
        (32, 1, 32),
        (100, 1, 8),  # medium: about four chunks per worker, whatever the backend
        (19_999, 1, 8),
        (200_000, 4, 8),  # large: as many as the backend's overhead allows
        (200_000, 1, 2),
    ],
)
def test_automatic_plan(n_items: int, large_chunks_per_worker: int, n_chunks: int) -> None:
    assert plan_chunks(n_items, 2, None, large_chunks_per_worker).n_chunks == n_chunks


def test_measured_cost_makes_expensive_items_finer_and_never_coarser() -> None:
    # a genetic optimizer's 20 ms fitness: one item per task on a process pool...
    assert plan_chunks(75, 2, None, 4, item_seconds=0.02, task_overhead=0.0005).n_chunks == 75
    # ...about three per task where a task costs ~3 ms (Dask): 26 chunks, not 25, so that
    # each of the 2 workers runs 13 and neither waits for the other's last one
    assert plan_chunks(75, 2, None, 1, item_seconds=0.02, task_overhead=0.003).n_chunks == 26
    # tiny items keep the static plan
    assert plan_chunks(200_000, 2, None, 1, item_seconds=5e-8, task_overhead=0.003).n_chunks == 2
    # a cost measured on a few dear items cannot turn a million cheap ones into a million tasks
    assert plan_chunks(1_000_000, 2, None, 1, item_seconds=1.0, task_overhead=0.003).n_chunks == 128
    # an explicit chunksize always wins
    assert plan_chunks(75, 2, 25, 4, item_seconds=0.02, task_overhead=0.0005).n_chunks == 3


@pytest.mark.parametrize(("n_items", "chunksize"), [(10, 3), (7, 7), (1000, 1), (12_345, 100)])
def test_strided_chunks_cover_every_item_once(n_items: int, chunksize: int) -> None:
    plan = plan_chunks(n_items, 2, chunksize, 1)
    items = list(range(n_items))
    seen = [
        plan.item_index(chunk, position)
        for chunk in range(plan.n_chunks)
        for position, item in enumerate(items[plan.items_of(chunk)])
        if item == plan.item_index(chunk, position)
    ]
    assert sorted(seen) == items
    assert max(len(items[plan.items_of(c)]) for c in range(plan.n_chunks)) <= chunksize


@pytest.mark.parametrize(
    ("n_items", "n_workers", "item_seconds", "n_chunks"),
    [
        (98, 2, 0.02, 34),  # 33 chunks of 3 rounded up to 17 per worker
        (99, 3, 0.02, 33),  # already a multiple
        (3, 4, 0.02, 3),  # fewer items than workers: one each
        (7, 4, 0.02, 7),  # never more chunks than items
    ],
)
def test_automatic_plan_gives_each_worker_as_many_chunks(
    n_items: int, n_workers: int, item_seconds: float, n_chunks: int
) -> None:
    plan = plan_chunks(n_items, n_workers, None, 1, item_seconds=item_seconds, task_overhead=0.003)
    assert plan.n_chunks == n_chunks
    sizes = [len(range(n_items)[plan.items_of(c)]) for c in range(plan.n_chunks)]
    assert sum(sizes) == n_items and max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the smaller chunks go last
