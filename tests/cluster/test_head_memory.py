"""What keeps a busy head's memory level (``benchmarks/soak.py`` measures it): Dask's developer
logs kept short (cluster/dask_logs.py; a length set in Dask's config wins), and Dask's spans
forgotten once finished (cluster/spans.py), where Dask keeps one per busy period forever."""

from __future__ import annotations

import time
from pathlib import Path

import dask.config
import pytest

from pycluster.cluster import spans
from pycluster.cluster.dask_logs import HEAD_LOW_LEVEL_LOG_LENGTH, LOG_LENGTH_KEY
from tests.helpers import running_head, wait_for


def test_a_busy_head_forgets_finished_spans_and_keeps_dask_logs_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spans, "KEEP_SPANS", 2)
    # 1000 is Dask's default, as a fresh process has it
    with dask.config.set({LOG_LENGTH_KEY: 1000}), running_head("memory", tmp_path / "a", workers=1) as node:
        scheduler = node.scheduler
        assert scheduler.transition_log.maxlen == HEAD_LOW_LEVEL_LOG_LENGTH == 100
        # the event topics (job progress and log batches) are bounded the same
        assert scheduler._broker._topics.default_factory.keywords["maxlen"] == 100
        extension = scheduler.extensions["spans"]
        manager = node.cluster_manager
        # busy periods one after another: each starts a span once the last has finished
        for i in range(8):
            future = manager.submit_task(abs, -i)
            assert future.result(timeout=30) == i
            del future
            wait_for(lambda: not scheduler.tasks, timeout=10)  # released and forgotten
        assert 1 <= len(extension.spans) <= 3, list(extension.spans)
        assert len(extension.root_spans) == len(extension.spans)
        time.sleep(1.5)  # a worker heartbeat or two, which may name a forgotten span's metrics
        assert manager.submit_task(abs, -9).result(timeout=30) == 9
    with dask.config.set({LOG_LENGTH_KEY: 321}), running_head("mine", tmp_path / "b", workers=0) as node:
        assert node.scheduler.transition_log.maxlen == 321


def test_jobs_share_one_dask_task_prefix(tmp_path: Path) -> None:
    """Each job is a Dask task group of its own (so workers start pieces by priority), but Dask keeps
    every task *prefix* (and the workers' metrics filed under it) for the scheduler's life: jobs
    must share one, or the head's memory grows with every job it ever ran."""
    with running_head("prefixes", tmp_path / "state", workers=1) as node:
        handles = [node.jobs.submit(abs, -i) for i in range(20)]
        assert [h.result(timeout=60) for h in handles] == list(range(20))
        scheduler = node.scheduler
        ours = [name for name in scheduler.task_prefixes if name.startswith("pycluster-job")]
        assert ours == ["pycluster-job"], ours[:5]
        time.sleep(1.5)  # a heartbeat or two: the workers' metrics are filed by prefix
        prefixes = {key[2] for key in scheduler.cumulative_worker_metrics if len(key) > 2}
        assert not any(str(p).startswith("pycluster-job-") for p in prefixes), sorted(map(str, prefixes))[:5]
