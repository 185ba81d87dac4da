"""``pycluster jobs`` as a user runs it: real CLI subprocesses against a real head over REST."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import HeadNode
from tests.helpers import cli, running_head, wait_for

TOKEN = "jobs-cli-token"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("jobs-cli", tmp_path_factory.mktemp("state"), workers=2, api_token=TOKEN) as head:
        yield head


def jobs(node: HeadNode, *args: str) -> subprocess.CompletedProcess[str]:
    """``pycluster jobs --url HEAD ARGS`` with the token from the environment, as a user sets it."""
    env = {**os.environ, "PYCLUSTER_API_TOKEN": TOKEN}
    return cli("jobs", "--url", node.dashboard_url or "", *args, env=env)


def test_submit_wait_show_list_delete(node: HeadNode) -> None:
    submitted = jobs(
        node, "submit", "sleep", "seconds=1", "pieces=4", "--max-cores", "1", "--priority", "high"
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert job_id.startswith("job_")

    waited = jobs(node, "wait", job_id, "--interval", "0.1")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout) == {"pieces": 4, "slept_seconds": 4.0}
    # not a terminal: plain progress lines, never a carriage return
    assert "\r" not in waited.stderr
    progress = waited.stderr.splitlines()
    # pieces done, elapsed<ETA and rate, then the state, as tqdm formats them (pycluster.progress);
    # on a busy machine the job can finish before the command's first look, so no running line is required
    assert all(line.startswith(f"{job_id}: ") and line.endswith("]") for line in progress), waited.stderr
    assert progress[-1].startswith(f"{job_id}: 100% 4/4 [") and progress[-1].endswith(", completed]")
    assert "<00:00, " in progress[-1] and re.search(r"piece/s|s/piece", progress[-1]), waited.stderr

    shown = jobs(node, "show", job_id)
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split(":", 1) for line in shown.stdout.splitlines())
    assert lines["status"].strip() == "completed" and lines["priority"].strip() == "HIGH"
    assert json.loads(lines["result"]) == {"pieces": 4, "slept_seconds": 4.0}
    detail = json.loads(jobs(node, "show", job_id, "--json").stdout)
    assert detail["pieces_done"] == 4 and detail["parameters"] == {"seconds": 1.0, "pieces": 4}

    listed = jobs(node, "list")
    assert any(line.startswith(job_id) and "completed" in line for line in listed.stdout.splitlines())
    as_json = json.loads(jobs(node, "list", "--status", "completed", "--json").stdout)
    assert job_id in {j["job_id"] for j in as_json["jobs"]}

    logs = jobs(node, "logs", job_id)
    assert logs.returncode == 0, logs.stderr
    assert "piece 3 piece: started" in logs.stdout and "piece 3 piece: completed in 1." in logs.stdout

    deleted = jobs(node, "delete", job_id)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted {job_id}"
    gone = jobs(node, "show", job_id)
    assert gone.returncode == 1 and gone.stderr.startswith("error: ") and "(HTTP 404)" in gone.stderr


def test_a_failing_job_then_retry(node: HeadNode) -> None:
    submitted = jobs(node, "submit", "fail", "message=disk on fire", "--retries", "0", "--json")
    assert submitted.returncode == 0, submitted.stderr
    failed_id = json.loads(submitted.stdout)["job_id"]
    waited = jobs(node, "wait", failed_id, "--quiet")
    assert waited.returncode == 1
    assert f"error: job {failed_id} failed" in waited.stderr and "disk on fire" in waited.stderr

    retried = jobs(node, "retry", failed_id)
    assert retried.returncode == 0, retried.stderr
    new_id = retried.stdout.strip()
    assert new_id.startswith("job_") and new_id != failed_id
    again = jobs(node, "wait", new_id, "--json", "--quiet")
    assert again.returncode == 1
    detail = json.loads(again.stdout)
    assert detail["retry_of"] == failed_id and detail["parameters"] == {"message": "disk on fire"}
    assert detail["max_retries"] == 0 and detail["status"] == "failed"

    done = jobs(node, "submit", "echo", "value=hi", "--wait", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == {"echo": "hi"}
    refused = jobs(node, "retry", json.loads(done.stdout)["job_id"])
    assert (
        refused.returncode == 1
        and "only failed or cancelled" in refused.stderr
        and "(HTTP 409)" in refused.stderr
    )


def test_queued_jobs_say_why_they_wait_and_cancel_and_delete_rules(node: HeadNode) -> None:
    hog = jobs(node, "submit", "sleep", "seconds=20", "pieces=2", "--max-cores", "2").stdout.strip()
    wait_for(lambda: json.loads(jobs(node, "show", hog, "--json").stdout)["status"] == "running", 30)
    queued = jobs(node, "submit", "echo", "value=later").stdout.strip()

    def waiting_line() -> str | None:
        lines = jobs(node, "list", "--status", "queued").stdout.splitlines()
        for first, second in itertools.pairwise(lines):
            if first.startswith(queued) and second.strip().startswith("waiting: "):
                return second
        return None

    line = wait_for(waiting_line, 20, interval=0.3, what="the queued job's waiting line")
    assert "just submitted" not in line
    shown = jobs(node, "show", queued).stdout
    assert "waiting:" in shown and "status:" in shown

    early = jobs(node, "wait", queued, "--timeout", "0.5", "--interval", "0.1")
    assert early.returncode == 1 and "still queued after 0.5 s" in early.stderr

    refused = jobs(node, "delete", hog)
    assert refused.returncode == 1 and "cancel it first" in refused.stderr and "(HTTP 409)" in refused.stderr
    for job_id in (queued, hog):
        cancelled = jobs(node, "cancel", job_id)
        assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"cancelled {job_id}"
    assert json.loads(jobs(node, "delete", hog, "--json").stdout)["status"] == "cancelled"


def test_bad_input_and_unreachable_head_are_told_plainly(node: HeadNode, tmp_path: Path) -> None:
    bad_value = jobs(node, "submit", "sleep", "seconds=-1")
    assert (
        bad_value.returncode == 1
        and "parameters.seconds" in bad_value.stderr
        and "(HTTP 422)" in bad_value.stderr
    )
    bad_field = jobs(node, "submit", "echo", "--result-ttl-s", "-3")
    assert bad_field.returncode == 1 and "result_ttl_s" in bad_field.stderr
    not_pair = jobs(node, "submit", "echo", "oops")
    assert not_pair.returncode == 2 and "is not key=value" in not_pair.stderr
    unknown = jobs(node, "logs", "job_nope")
    assert unknown.returncode == 1 and "(HTTP 404)" in unknown.stderr
    wrong = cli(
        "jobs", "--url", node.dashboard_url or "", "list", env={**os.environ, "PYCLUSTER_API_TOKEN": "no"}
    )
    assert wrong.returncode == 1 and "(HTTP 401)" in wrong.stderr
    nowhere = cli("jobs", "--url", "http://127.0.0.1:9", "list")
    assert nowhere.returncode == 1 and "cannot reach the head" in nowhere.stderr


def test_depends_on_run_at_and_cron_from_the_command_line(node: HeadNode) -> None:
    parent = jobs(node, "submit", "echo", "value=1").stdout.strip()
    child = jobs(
        node, "submit", "echo", "value=2", "--depends-on", parent, "--run-at", "2100-01-01T00:00:00Z"
    )
    assert child.returncode == 0, child.stderr
    shown = json.loads(jobs(node, "show", child.stdout.strip(), "--json").stdout)
    assert shown["depends_on"] == [parent] and shown["run_at"] == "2100-01-01T00:00:00Z"
    wait_for(lambda: "scheduled to run at 2100" in (node.jobs.get(shown["job_id"]).waiting_reason or ""), 10)
    # the human output names them too, and why it waits, not only --json
    lines = dict(line.split(":", 1) for line in jobs(node, "show", shown["job_id"]).stdout.splitlines())
    assert lines["depends_on"].strip() == parent and lines["run_at"].strip() == "2100-01-01T00:00:00Z"
    assert "scheduled to run at 2100" in lines["waiting"]
    assert jobs(node, "cancel", shown["job_id"]).returncode == 0
    scheduled = jobs(node, "submit", "echo", "--cron", "0 0 1 1 *")
    assert scheduled.returncode == 0, scheduled.stderr
    assert scheduled.stdout.startswith("sched_") and "next run 20" in scheduled.stdout
    node.jobs.delete_schedule(scheduled.stdout.split()[0])
    bad = jobs(node, "submit", "echo", "--cron", "every tuesday")
    assert bad.returncode == 1 and "cron" in bad.stderr, bad.stderr
