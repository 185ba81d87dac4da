"""Storage faults: a full state directory answers 507 and the queue recovers by itself; a damaged
or truncated database stops start-up with what to do."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import HeadNode
from pycluster.errors import DatabaseDamagedError, StorageFullError
from pycluster.jobs import JobQueue
from pycluster.jobs.queue import DATABASE_NAME
from tests.helpers import api_client, running_head, wait_for_job


def test_a_zero_length_database_is_damaged_not_a_new_cluster(tmp_path: Path) -> None:
    database = tmp_path / DATABASE_NAME
    database.touch()
    with pytest.raises(DatabaseDamagedError, match="empty") as caught:
        JobQueue(None, tmp_path)
    message = str(caught.value)
    assert str(database) in message and "mv " in message and "backup" in message
    assert database.stat().st_size == 0  # nothing was written over it


def test_a_truncated_database_stops_the_head_naming_the_file(tmp_path: Path) -> None:
    queue = JobQueue(None, tmp_path).start()
    for i in range(300):
        queue.submit_job("echo", {"value": "x" * 200 + str(i)})
    queue.stop()
    database = tmp_path / DATABASE_NAME
    with sqlite3.connect(database) as db:  # everything in the main file, as after a clean stop
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = database.stat().st_size
    with open(database, "r+b") as f:
        f.truncate(size // 2)
    node = HeadNode(
        "damaged", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=tmp_path
    )
    with pytest.raises(DatabaseDamagedError) as caught:
        node.start(n_local_workers=0)
    assert str(database) in str(caught.value) and "damaged" in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_text("not a database, just text that happens to be here\n" * 10)
    with pytest.raises(DatabaseDamagedError, match="not an SQLite database"):
        JobQueue(None, tmp_path)


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {exc}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    """Write to ``folder`` until its filesystem is full."""
    with open(folder / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
    assert shutil.disk_usage(folder).free < 65536


@pytest.mark.slow
def test_a_full_state_directory_answers_507_and_the_queue_recovers_by_itself(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        state = mnt / "state"
        with running_head("full-disk", state) as node, api_client(node) as api:
            running = api.post(
                "/api/processing/jobs/submit",
                json={"operation": "sleep", "parameters": {"seconds": 1.5, "pieces": 2}, "max_cores": 1},
            ).json()["job_id"]
            fill(mnt)
            refused = api.post("/api/processing/jobs/submit", json={"operation": "echo"})
            assert refused.status_code == 507, refused.text
            assert str(state) in refused.json()["detail"] and "full" in refused.json()["detail"]
            with pytest.raises(StorageFullError, match=str(state)):
                node.jobs.submit(abs, -1)
            # the job that was running when the disk filled still ends, and says so
            assert wait_for_job(api, running, 60)["status"] == "completed"
            subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
            accepted = api.post(
                "/api/processing/jobs/submit", json={"operation": "echo", "parameters": {"value": 7}}
            )
            assert accepted.status_code == 200, accepted.text
            done = wait_for_job(api, accepted.json()["job_id"], 60)
            assert done["status"] == "completed" and done["result"] == {"echo": 7}
            assert node.jobs.submit(abs, -2).result(timeout=60) == 2
        # what the full disk held back reached the database once there was room
        queue = JobQueue(None, state)
        try:
            assert queue.get(running).status.value == "completed"
        finally:
            queue.store.close()


def test_errno_of_a_full_disk_is_told_apart() -> None:
    from pycluster.jobs.storage import storage_error

    full = storage_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), Path("/x/state"))
    assert isinstance(full, StorageFullError) and "/x/state" in str(full)
    assert storage_error(sqlite3.OperationalError("database or disk is full"), Path("/y")) is not None
    assert storage_error(ValueError("no"), Path("/y")) is None
