"""Datasets over REST and the CLI: the document's example, bad input, uploads, downloads, faults."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

from pycluster import HeadNode, JobStatus
from tests.helpers import cli, wait_for, wait_for_job


# json-array: .json files each holding one array of records, not JSON lines
@pytest.mark.parametrize("layout", ["csv", "json-array"])
def test_documented_partition_and_aggregate_example(
    api: httpx.Client, data_root: Path, expected: pd.DataFrame, layout: str
) -> None:
    registered = api.post(
        "/api/processing/data/register", json={"path": str(data_root / layout), "name": "expr"}
    )
    assert registered.status_code == 200, registered.text
    dataset_id = registered.json()["dataset_id"]
    partitioned = api.post(
        "/api/processing/data/partition",
        json={"dataset_id": dataset_id, "partition_size_mb": 100, "n_partitions": 4},
    ).json()
    assert partitioned["message"] == "Data partitioned successfully"
    info = partitioned["partition_info"]
    assert info["n_partitions"] == 4
    assert info["columns"] == ["gene_id", "category", "expression_level", "p_value", "reads"]
    assert info["estimated_size_mb"] > 1
    job = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "aggregate",
            "dataset_id": dataset_id,
            "parameters": {"column": "expression_level", "operation": "mean"},
            "priority": "HIGH",
            "max_memory_gb": 1.0,
            "max_cores": 2,
        },
    ).json()
    final = wait_for_job(api, job["job_id"])
    assert final["status"] == "completed" and final["pieces_total"] == 4
    assert abs(final["result"]["value"] - expected.expression_level.mean()) < 1e-9
    inspected = api.get(f"/api/processing/data/{dataset_id}").json()
    assert inspected["n_partitions"] == 4 and inspected["dtypes"]["expression_level"].startswith("float")
    assert abs(inspected["row_estimate"] - len(expected)) < 0.2 * len(expected)
    assert dataset_id in {d["dataset_id"] for d in api.get("/api/processing/data/list").json()["datasets"]}


def test_paths_outside_the_roots_are_403(api: httpx.Client, data_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\n1,2\n")
    for path in [str(outside), str(data_root / ".." / outside.parent.name / "secret.csv"), "/etc/passwd"]:
        refused = api.post("/api/processing/data/register", json={"path": path})
        assert refused.status_code == 403, (path, refused.text)
        assert "outside the data roots" in refused.json()["detail"]
    link = data_root / "csv" / "sneaky.csv"
    link.symlink_to(outside)
    try:
        refused = api.post("/api/processing/data/register", json={"path": str(data_root / "csv")})
        # the link is named; where it leads is not revealed
        assert refused.status_code == 403 and "sneaky.csv" in refused.json()["detail"]
        assert str(outside.parent) not in refused.json()["detail"]
    finally:
        link.unlink()
    remote = api.post("/api/processing/data/register", json={"path": "memory://x/data.csv"})
    assert remote.status_code == 403 and "URLs are off" in remote.json()["detail"]


def test_bad_data_gets_clear_errors(api: httpx.Client, data_root: Path) -> None:
    bad = data_root / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "mixed_a.csv").write_text("a,b\n1,2\n")
    (bad / "mixed_b.csv").write_text("a,c\n1,2\n")
    mixed = api.post("/api/processing/data/register", json={"path": str(bad / "mixed_*.csv")})
    assert mixed.status_code == 422 and "schemas differ" in mixed.json()["detail"]
    (bad / "empty.csv").write_text("")
    empty = api.post("/api/processing/data/register", json={"path": str(bad / "empty.csv")})
    assert empty.status_code == 422 and "is empty" in empty.json()["detail"]
    (bad / "notes.txt").write_text("hello\n")
    unsupported = api.post("/api/processing/data/register", json={"path": str(bad / "notes.txt")})
    assert unsupported.status_code == 422 and "cannot tell the format" in unsupported.json()["detail"]
    missing = api.post("/api/processing/data/register", json={"path": str(bad / "nope.csv")})
    assert missing.status_code == 422 and "does not exist" in missing.json()["detail"]
    assert api.get("/api/processing/data/dataset_nope").status_code == 404


def test_unknown_column_lists_the_columns(api: httpx.Client, data_root: Path) -> None:
    dataset_id = api.post("/api/processing/data/register", json={"path": str(data_root / "parquet")}).json()[
        "dataset_id"
    ]
    answer = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "aggregate",
            "dataset_id": dataset_id,
            "parameters": {"column": "expresion_level", "operation": "mean"},
        },
    )
    assert answer.status_code == 422
    assert "unknown column 'expresion_level'" in answer.json()["detail"]
    assert "gene_id, category, expression_level, p_value, reads" in answer.json()["detail"]
    text = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "aggregate",
            "dataset_id": dataset_id,
            "parameters": {"column": "category", "operation": "mean"},
        },
    )
    assert text.status_code == 422 and "needs numbers" in text.json()["detail"]
    bad_op = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "filter",
            "dataset_id": dataset_id,
            "parameters": {"conditions": [{"column": "reads", "op": "~=", "value": 1}]},
        },
    )
    # refused by the body's schema (one variant per operation): the field's path, the ops allowed
    assert bad_op.status_code == 422, bad_op.text
    assert bad_op.json()["detail"][0]["loc"][-3:] == ["conditions", 0, "op"], bad_op.text
    assert "'between'" in bad_op.text
    no_data = api.post(
        "/api/processing/jobs/submit", json={"operation": "describe", "dataset_id": "dataset_nope"}
    )
    assert no_data.status_code == 404


def test_malformed_csv_names_file_and_line_or_is_skipped_and_counted(
    api: httpx.Client, data_root: Path
) -> None:
    folder = data_root / "malformed"
    folder.mkdir(exist_ok=True)
    (folder / "good.csv").write_text("x,y\n" + "".join(f"{i},{i}\n" for i in range(50)))
    (folder / "broken.csv").write_text("x,y\n1,1\n2,2\n3,3,3\n4,4\n")
    dataset_id = api.post("/api/processing/data/register", json={"path": str(folder)}).json()["dataset_id"]
    failing = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "aggregate",
            "dataset_id": dataset_id,
            "retries": 0,
            "parameters": {"column": "x", "operation": "sum"},
        },
    ).json()
    failed = wait_for_job(api, failing["job_id"])
    assert failed["status"] == "failed"
    assert "broken.csv line 4" in failed["error"] and "expected 2 fields, saw 3" in failed["error"]
    skipping = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "aggregate",
            "dataset_id": dataset_id,
            "parameters": {"column": "x", "operation": "sum", "on_bad_lines": "skip"},
        },
    ).json()
    done = wait_for_job(api, skipping["job_id"])
    assert done["status"] == "completed"
    assert done["result"]["value"] == sum(range(50)) + 1 + 2 + 4 and done["result"]["skipped_rows"] == 1


def test_upload_then_large_result_download(api: httpx.Client, expected: pd.DataFrame) -> None:
    csv = expected.head(3000).to_csv(index=False).encode()
    uploaded = api.post(
        "/api/processing/data/upload",
        files={"file": ("uploaded.csv", csv, "text/csv")},
        data={"name": "uploaded"},
    )
    assert uploaded.status_code == 200, uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    assert uploaded.json()["dataset"]["columns"][0] == "gene_id"
    job = api.post(
        "/api/processing/jobs/submit",
        json={
            "operation": "filter",
            "dataset_id": dataset_id,
            "parameters": {"conditions": [{"column": "reads", "op": ">=", "value": 0}]},
        },
    ).json()
    status = wait_for_job(api, job["job_id"])
    assert status["result"]["rows"] == 3000 and status["result_url"].endswith("/result")
    download = api.get(status["result_url"])
    assert download.status_code == 200
    from io import BytesIO

    assert len(pd.read_parquet(BytesIO(download.content))) == 3000
    assert api.delete(f"/api/processing/data/{dataset_id}").status_code == 200
    assert api.get(f"/api/processing/data/{dataset_id}").status_code == 404
    bad_upload = api.post(
        "/api/processing/data/upload", files={"file": ("evil.exe", b"MZ", "application/octet-stream")}
    )
    assert bad_upload.status_code == 422


def test_cli_register_list_inspect_delete(data_head: HeadNode, data_root: Path) -> None:
    url = ["--url", data_head.dashboard_url or ""]
    registered = cli("data", *url, "register", str(data_root / "json"), "--name", "from-cli")
    assert registered.returncode == 0, registered.stderr
    dataset_id = registered.stdout.strip()
    assert dataset_id.startswith("dataset_") and "columns: gene_id" in registered.stderr
    assert "from-cli" in cli("data", *url, "list").stdout
    assert '"n_partitions"' in cli("data", *url, "inspect", dataset_id).stdout
    refused = cli("data", *url, "register", "/etc/hostname")
    assert (
        refused.returncode == 1
        and "outside the data roots" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    assert cli("data", *url, "delete", dataset_id).returncode == 0


def test_killed_worker_mid_job_still_gives_the_right_answer(
    data_head: HeadNode, data_root: Path, expected: pd.DataFrame
) -> None:
    dataset = data_head.datasets.register(str(data_root / "csv"))
    data_head.datasets.partition(dataset.id, n_partitions=40)
    job = data_head.jobs.submit_job(
        "aggregate", {"column": "reads", "operation": "sum"}, dataset_id=dataset.id, max_cores=1
    )
    wait_for(lambda: data_head.jobs.get(job.id).pieces_done >= 2, 60)
    pids = data_head.cluster_manager.client.run(os.getpid)
    psutil.Process(next(iter(pids.values()))).kill()
    done = data_head.jobs.wait(job.id, 120)
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.result["value"] == expected.reads.sum()


def test_restarted_queue_does_not_recompute_finished_partitions(
    data_root: Path, tmp_path: Path, expected: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the restarted queue looks at its recovered jobs on its first tick, one interval
    # (5 s by default) after it starts: a short one keeps the test short
    monkeypatch.setenv("PYCLUSTER_JOB_CHECK_INTERVAL", "0.2s")
    state = str(tmp_path / "state")
    first = HeadNode(
        "restart-1",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=state,
        data_roots=[str(data_root)],
    )
    first.start(n_local_workers=1, threads_per_worker=1)
    dataset = first.datasets.register(str(data_root / "csv"))
    first.datasets.partition(dataset.id, n_partitions=30)
    job = first.jobs.submit_job("aggregate", {"column": "p_value", "operation": "max"}, dataset_id=dataset.id)
    done_before = wait_for(lambda: (n := first.jobs.get(job.id).pieces_done) >= 5 and n, 60)
    first.shutdown()  # the job is left 'running', with its finished partitions checkpointed
    checkpointed = len(list((Path(state) / "checkpoints" / job.id).glob("*.pkl")))
    assert checkpointed >= done_before
    with HeadNode(
        "restart-2",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=state,
        data_roots=[str(data_root)],
    ) as second:
        second.start(n_local_workers=1, threads_per_worker=1)
        done = second.jobs.wait(job.id, 120)
        assert done.status == JobStatus.COMPLETED, done.error
        assert done.result["value"] == expected.p_value.max()
        computed_after_restart = second.services["metrics"].counter.completed
    # only the partitions without a checkpoint ran again on the new cluster
    assert computed_after_restart == 30 - checkpointed
