"""Per-job logs: what pieces print or log reaches the job's logs (REST, SSE, CLI), tracebacks kept."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycluster import HeadNode
from pycluster.jobs.logcapture import capture_piece
from pycluster.jobs.logstore import JobLogs, LogEntry
from tests.helpers import cli, running_head, wait_for

TOKEN = "job-logs-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


# ---------------------------------------------------------------- capture, in this process
def _chatty(name: str, barrier: threading.Barrier) -> str:
    for i in range(3):
        print(f"{name} out {i}")
        barrier.wait(5)  # both pieces are mid-run at once: their lines interleave in time
    print(f"{name} err", file=sys.stderr)
    logging.getLogger("user.code").warning("%s logged", name)
    return name


def test_two_pieces_on_two_threads_each_get_only_their_own_lines() -> None:
    sent: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(
            target=capture_piece,
            args=(functools.partial(_chatty, barrier=barrier), name, "job_a", i, 0, sent.append),
        )
        for i, name in enumerate(["alpha", "beta"])
    ]
    for thread in threads:
        thread.start()
    print("the main thread is not a piece")
    for thread in threads:
        thread.join(10)
    by_piece: dict[int, list[tuple[str, str]]] = {0: [], 1: []}
    for batch in sent:
        by_piece[batch["piece"]].extend((e["stream"], e["text"]) for e in batch["entries"])
    for piece, name in enumerate(["alpha", "beta"]):
        lines = by_piece[piece]
        assert [t for s, t in lines if s == "stdout"] == [f"{name} out {i}" for i in range(3)]
        assert ("stderr", f"{name} err") in lines
        assert ("log", f"WARNING user.code: {name} logged") in lines
        assert lines[0] == ("piece", "started") and lines[-1][1].startswith("completed in ")
    assert not any("main thread" in t for lines in by_piece.values() for _, t in lines)


def test_a_piece_that_goes_quiet_still_sends_what_it_printed() -> None:
    arrived = threading.Event()

    def send(batch: dict[str, Any]) -> None:
        if any(e["text"] == "one line, then quiet" for e in batch["entries"]):
            arrived.set()

    def quiet(_: None) -> bool:
        print("one line, then quiet")
        return arrived.wait(5)  # the line reaches the head while the piece still runs

    assert capture_piece(quiet, None, "job_q", 0, 0, send) is True


def _broken(value: int) -> int:
    return 1 // value


def test_a_failing_piece_sends_its_full_traceback() -> None:
    sent: list[dict[str, Any]] = []
    with pytest.raises(ZeroDivisionError):
        capture_piece(_broken, 0, "job_b", 3, 1, sent.append)
    entries = [e for batch in sent for e in batch["entries"]]
    (trace,) = [e["text"] for e in entries if e["stream"] == "traceback"]
    assert trace.startswith("Traceback (most recent call last):")
    assert (
        "in _broken" in trace
        and "return 1 // value" in trace
        and trace.endswith("ZeroDivisionError: integer division or modulo by zero")
    )
    assert "logcapture" not in trace  # only the user's frames
    assert entries[-1]["text"].startswith("failed: ZeroDivisionError in ")
    assert {b["piece"] for b in sent} == {3} and {b["attempt"] for b in sent} == {1}


def test_the_cap_drops_later_output_but_keeps_tracebacks(tmp_path: Path) -> None:
    logs = JobLogs(tmp_path, cap_bytes=2_000)
    logs.append("job_c", [LogEntry(1.0, 0, 0, "stdout", f"line {i} " + "x" * 50) for i in range(100)])
    logs.append("job_c", [LogEntry(2.0, 0, 0, "traceback", "Traceback: the real reason")])
    entries = logs.entries("job_c")
    assert 10 < len(entries) < 40
    assert (tmp_path / "job_c.jsonl").stat().st_size < 2_000 + 500
    assert any(e.stream == "pycluster" and "log cap of 2000 bytes" in e.text for e in entries)
    assert logs.tracebacks("job_c")[0].text == "Traceback: the real reason"
    assert logs.read("job_c").capped


# ---------------------------------------------------------------- a real head
@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("job-logs", tmp_path_factory.mktemp("state"), workers=1, api_token=TOKEN) as head:
        yield head


def _report(item: int) -> int:
    print(f"item {item} on pid {os.getpid()}")
    logging.getLogger("report").info("item %d noted", item)  # INFO: a worker captures it
    if item == 2:
        raise ValueError(f"item {item} is bad")
    return item * 10


def _slow_printer(n: int) -> int:
    import time

    for i in range(n):
        print(f"tick {i}", flush=True)
        time.sleep(0.3)
    return n


@pytest.mark.slow
def test_logs_and_tracebacks_over_rest_and_cli(node: HeadNode) -> None:
    handle = node.jobs.map(_report, [1, 2, 3], retries=1, retry_backoff_s=0.05)
    with pytest.raises(Exception, match="item 2 is bad"):
        handle.result(timeout=60)
    base = f"{node.dashboard_url}/api/processing/jobs/{handle.job_id}"

    def stored() -> dict[str, Any]:
        return httpx.get(f"{base}/logs", headers=HEADERS).json()

    wait_for(lambda: sum(e["stream"] == "traceback" for e in stored()["entries"]) == 2, timeout=10)
    answer = stored()
    texts = [(e["piece"], e["stream"], e["text"]) for e in answer["entries"]]
    assert any(p == 0 and s == "stdout" and t.startswith("item 1 on pid ") for p, s, t in texts)
    assert (0, "log", "INFO report: item 1 noted") in texts
    pid = next(t for p, s, t in texts if s == "stdout").rsplit(" ", 1)[1]
    assert int(pid) != os.getpid()  # it ran in the worker process, not here
    # piece 1 ran twice (one retry): both attempts with durations and how they ended
    runs = [r for r in answer["pieces"] if r["piece"] == 1]
    assert [(r["attempt"], r["outcome"]) for r in runs] == [
        (0, "failed: ValueError"),
        (1, "failed: ValueError"),
    ]
    assert all(r["duration_s"] is not None and r["duration_s"] >= 0 for r in runs)

    detail = httpx.get(f"{base}/status", headers=HEADERS).json()
    assert detail["status"] == "failed"
    assert [(t["piece"], t["attempt"]) for t in detail["tracebacks"]] == [(1, 0), (1, 1)]
    assert "in _report" in detail["tracebacks"][0]["text"]
    assert 'raise ValueError(f"item {item} is bad")' in detail["tracebacks"][0]["text"]

    env = {**os.environ, "PYCLUSTER_API_TOKEN": TOKEN}
    shown = cli("jobs", "--url", node.dashboard_url or "", "logs", handle.job_id, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "piece 1 #1 traceback: Traceback (most recent call last):" in shown.stdout
    assert "piece 2 stdout: item 3 on pid" in shown.stdout

    missing = httpx.get(f"{node.dashboard_url}/api/processing/jobs/job_nope/logs", headers=HEADERS)
    assert missing.status_code == 404 and "job_nope" in missing.json()["detail"]


@pytest.mark.slow
def test_follow_streams_lines_while_the_job_runs(node: HeadNode) -> None:
    handle = node.jobs.submit(_slow_printer, 4)
    url = f"{node.dashboard_url}/api/processing/jobs/{handle.job_id}/logs"
    events: list[tuple[str, dict[str, Any]]] = []
    status_when_first_tick: str | None = None
    with httpx.stream("GET", url, params={"follow": "true"}, headers=HEADERS, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
                events.append((name, data))
                ticks = [e for e in data.get("entries", []) if e["text"].startswith("tick")]
                if ticks and status_when_first_tick is None:
                    status_when_first_tick = handle.status().value
    assert status_when_first_tick == "running"  # lines arrived while the piece still ran
    texts = [e["text"] for name, data in events if name == "logs" for e in data["entries"]]
    assert [t for t in texts if t.startswith("tick")] == [f"tick {i}" for i in range(4)]
    assert events[-1] == ("end", {"job_id": handle.job_id, "status": "completed"})

    followed = cli(
        "jobs",
        "--url",
        node.dashboard_url or "",
        "logs",
        handle.job_id,
        "--follow",
        env={**os.environ, "PYCLUSTER_API_TOKEN": TOKEN},
    )
    assert followed.returncode == 0, followed.stderr
    assert "piece 0 stdout: tick 3" in followed.stdout and f"{handle.job_id} completed" in followed.stderr


@pytest.mark.slow
def test_the_list_searches_filters_pages_and_refuses_bad_values(node: HeadNode) -> None:
    jobs_url = f"{node.dashboard_url}/api/processing/jobs"
    ids = []
    for value in range(3):
        body = {"operation": "echo", "parameters": {"value": value}, "client_id": "finder_%x"}
        ids.append(httpx.post(f"{jobs_url}/submit", json=body, headers=HEADERS).json()["job_id"])

    def listed(**params: Any) -> httpx.Response:
        return httpx.get(f"{jobs_url}/list", params=params, headers=HEADERS)

    found = listed(q="finder_%x", limit=2).json()  # % and _ are text, not LIKE wildcards
    assert found["total"] == 3 and [j["job_id"] for j in found["jobs"]] == ids[::-1][:2]
    assert [j["job_id"] for j in listed(q="FINDER_%", limit=2, offset=2).json()["jobs"]] == ids[:1]
    assert listed(q="finder_x").json()["total"] == 0
    assert listed(q=ids[1]).json()["total"] == 1
    wait_for(lambda: listed(q="finder", status="completed").json()["total"] == 3, timeout=30)
    assert listed(q="finder", status="queued,running").json()["total"] == 0
    assert listed(q="finder", status="active").json()["total"] == 0
    assert httpx.get(jobs_url, params={"q": "finder"}, headers=HEADERS).json()["total"] == 3

    bad = listed(status="done")
    assert bad.status_code == 422 and "unknown status 'done'" in json.dumps(bad.json())
    assert listed(limit=0).status_code == 422 and listed(offset=-1).status_code == 422
    assert listed(q="x" * 201).status_code == 422
    refused = httpx.get(f"{jobs_url}/{ids[0]}/logs", params={"offset": -5}, headers=HEADERS)
    assert refused.status_code == 422 and "offset" in json.dumps(refused.json())
