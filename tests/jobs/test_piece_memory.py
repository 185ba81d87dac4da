"""A job's max_memory_gb is enforced while its pieces run: past it, the piece is stopped and the
job fails naming the limit and the measured peak; the worker lives on and frees the memory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import psutil
import pytest

from pycluster import HeadNode, JobStatus
from pycluster.errors import JobFailedError
from tests.helpers import running_head


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("piece-memory", tmp_path_factory.mktemp("state"), workers=1) as head:
        yield head


def hold(mb_total: int) -> tuple[int, int]:
    """Allocate (and touch) 25 MB blocks up to ``mb_total``, as a piece building a big table would."""
    blocks = []
    for _ in range(mb_total // 25):
        blocks.append(bytearray(25_000_000))  # zero-filled: the pages are really used
        time.sleep(0.01)
    return os.getpid(), len(blocks)


def worker_pid() -> int:
    return os.getpid()


def test_a_piece_past_max_memory_gb_is_stopped_and_the_job_fails_naming_it(node: HeadNode) -> None:
    before = node.jobs.submit(worker_pid).result(timeout=60)
    handle = node.jobs.submit(hold, 3000, max_memory_gb=0.3, retries=3)
    started = time.monotonic()
    with pytest.raises(JobFailedError, match=r"max_memory_gb=0\.3") as failed:
        handle.result(timeout=60)
    # stopped near the limit, not after allocating all 3 GB
    assert time.monotonic() - started < 30
    message = str(failed.value)
    assert "JobMemoryLimitError" in message and "GB at peak" in message, message
    peak = float(message.split(" GB at peak")[0].rsplit(" ", 1)[1])
    assert 0.3 <= peak < 1.0, message  # one reading every 20 ms: a little past the limit
    job = node.jobs.get(handle.job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 1  # not retried: it would do it again
    # the same worker process runs the next job, and the stopped piece's memory was given back
    assert node.jobs.submit(worker_pid).result(timeout=60) == before
    rss_gb = psutil.Process(before).memory_info().rss / 1e9
    assert rss_gb < 0.5, rss_gb


def test_a_piece_within_its_limit_runs_as_before(node: HeadNode) -> None:
    _, blocks = node.jobs.submit(hold, 100, max_memory_gb=0.5).result(timeout=60)
    assert blocks == 4
