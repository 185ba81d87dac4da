"""Logs: pycluster's lifecycle records under ``pycluster.*``, and the CLI's one log format."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from distributed import Client

from pycluster import HeadNode
from pycluster.logs import configure_logging, level_from_flags, reset_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back after the test."""
    before = {name: logging.getLogger(name).level for name in ("", "pycluster", "distributed", "uvicorn")}
    yield
    reset_logging()
    assert {name: logging.getLogger(name).level for name in before} == before


def pycluster_messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("pycluster.") and r.levelno == level]


def test_a_head_logs_its_lifecycle_and_details_under_pycluster(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """What ``logging.basicConfig(level=logging.DEBUG)`` shows a user while a head starts,
    runs a task and a job, and stops."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pycluster")
    head = HeadNode(
        "log-test", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=str(tmp_path)
    )
    head.start(n_local_workers=1, threads_per_worker=1)
    try:
        address = head.scheduler_address
        with Client(address, security=head.security) as client:
            assert client.submit(sum, [1, 2]).result() == 3
        handle = head.jobs.submit(sum, [3, 4])
        job = head.jobs.wait(handle.job_id, timeout=60)
        assert job.status.value == "completed"
    finally:
        head.shutdown()
    info = pycluster_messages(caplog, logging.INFO)
    assert any(m.startswith("head 'log-test' started: scheduler " + address) for m in info), info
    assert any(
        re.match(r"worker joined: \S+( '.*')? \(1 threads, memory .*\); 1 workers", m) for m in info
    ), info
    assert f"job {job.id} completed" in info
    assert any(m.startswith(f"job {job.id} running: 1 pieces") for m in info), info
    assert info[-1] == "head 'log-test' stopped"
    debug = pycluster_messages(caplog, logging.DEBUG)
    assert any(m.startswith("scheduler listening on ") for m in debug), debug
    assert any(m.startswith("client connected: ") for m in debug), debug


def test_levels_from_the_flags() -> None:
    assert level_from_flags(None) == logging.INFO
    assert level_from_flags(None, verbose=1) == logging.DEBUG
    assert level_from_flags(None, verbose=3) == logging.DEBUG
    assert level_from_flags(None, quiet=1) == logging.WARNING
    assert level_from_flags("error", verbose=1) == logging.WARNING
    assert level_from_flags("CRITICAL", quiet=2) == logging.CRITICAL


def test_one_json_format_for_pycluster_dask_uvicorn_and_warnings(restored_logging: None) -> None:
    stream = io.StringIO()
    logging.getLogger("distributed").addHandler(logging.StreamHandler(io.StringIO()))  # as Dask does
    configure_logging(logging.INFO, "json", stream=stream)
    logging.getLogger("pycluster.test").info("hello")
    logging.getLogger("pycluster.test").debug("not shown at INFO")
    logging.getLogger("distributed.comm.test").warning("dask says")
    logging.getLogger("distributed.comm.test").info("dask chatter, hidden below DEBUG")
    logging.getLogger("uvicorn.error").warning("uvicorn says")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library warning", FutureWarning, stacklevel=1)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["logger"], r["level"]) for r in records] == [
        ("pycluster.test", "INFO"),
        ("distributed.comm.test", "WARNING"),
        ("uvicorn.error", "WARNING"),
        ("py.warnings", "WARNING"),
    ]
    assert "FutureWarning: a library warning" in records[-1]["message"]
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)


def test_cli_version() -> None:
    from pycluster import __version__

    out = subprocess.run(
        [sys.executable, "-m", "pycluster", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == f"pycluster, version {__version__}"


@pytest.mark.slow
def test_cli_head_logs_workers_in_json(tmp_path: Path) -> None:
    """`pycluster --log-format json -v head`: every stderr line is one JSON record, the worker
    joining and the head stopping among them; no access log lines."""
    command = [sys.executable, "-m", "pycluster", "--log-format", "json", "-v", "head", "--host", "127.0.0.1"]
    command += ["--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off"]
    command += ["--local-workers", "1", "--no-discovery", "--state-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = ""
        for line in proc.stdout:
            banner += line
            if "Press Ctrl-C" in line:
                break
        url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert url is not None, banner
        assert httpx.get(f"{url.group(0)}/api/health", timeout=20).status_code in (200, 401)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = [json.loads(line) for line in err.splitlines() if line.strip()]  # fails on any other line
    messages = [(r["logger"], r["message"]) for r in records]
    assert any(name == "pycluster.cluster.workers" and m.startswith("worker joined") for name, m in messages)
    assert any(m.startswith("head ") and m.endswith(" stopped") for _, m in messages), messages
    assert any(r["level"] == "DEBUG" for r in records)
    assert not any("GET /api/health" in m for _, m in messages)  # uvicorn's access log is off
