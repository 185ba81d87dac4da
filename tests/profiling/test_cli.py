"""``pycluster profile`` against a running keyed head, as a real subprocess."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import HeadNode
from tests.helpers import cli

from .test_profiler import sleepy_square

KEY = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def keyed_head() -> Iterator[HeadNode]:
    node = HeadNode("profiled-cli", scheduler_port=0, dask_dashboard_port=False, services=(), auth_key=KEY)
    info = node.start(n_local_workers=2, threads_per_worker=1)
    assert info["status"] == "success", info
    yield node
    node.shutdown()


def keep_busy(head: HeadNode, stop: threading.Event) -> None:
    manager = head.cluster_manager
    while not stop.is_set():
        manager.gather([manager.submit_task(sleepy_square, i) for i in range(4)])


def profile_while_busy(head: HeadNode, *args: str) -> tuple[int, str, str]:
    stop = threading.Event()
    busy = threading.Thread(target=keep_busy, args=(head, stop))
    busy.start()
    try:
        done = cli(
            "profile", "--scheduler", head.scheduler_address, *args,
            env={**os.environ, "PYCLUSTER_AUTH_KEY": KEY},
        )  # fmt: skip
    finally:
        stop.set()
        busy.join(30)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_profile_prints_a_summary_of_the_window(keyed_head: HeadNode, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    started = time.monotonic()
    code, out, err = profile_while_busy(
        keyed_head, "--duration", "3", "--interval", "0.5", "--html", str(html)
    )
    assert code == 0, err
    assert time.monotonic() - started >= 3
    assert f"Cluster profile of {keyed_head.scheduler_address}" in out
    assert "on 2 workers" in out
    assert "sleepy_square" in out
    assert f"HTML report: {html}" in out
    assert "sleepy_square" in html.read_text(encoding="utf-8")


@pytest.mark.slow
def test_profile_json(keyed_head: HeadNode) -> None:
    code, out, err = profile_while_busy(keyed_head, "--duration", "2", "--json", "--no-code-profile")
    assert code == 0, err
    data = json.loads(out)
    sleepy = next(f for f in data["functions"] if f["name"] == "sleepy_square")
    assert sleepy["count"] >= 8  # 2 s of 50 ms tasks on two single-threaded workers
    assert 0.045 <= sleepy["mean_s"] < 1.0
    assert data["hot_frames"] == []


def test_profile_without_the_key_fails_clearly(keyed_head: HeadNode) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYCLUSTER_AUTH_KEY"}
    env["PYCLUSTER_RUNTIME_DIR"] = str(Path(env.get("TMPDIR", "/tmp")) / f"empty-{secrets.token_hex(4)}")
    done = cli("profile", "--scheduler", keyed_head.scheduler_address, "--duration", "1", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "key" in done.stderr.lower()


DOCUMENT_EXAMPLE = """
from pycluster.profiling import ClusterProfiler

profiler = ClusterProfiler()
profiler.start()

# Your cluster operations here
from distributed import get_client
def documented_op(x):
    return x + 1
get_client().gather(get_client().map(documented_op, range(7)))

report = profiler.stop()
print(report.summary())
"""


def test_the_documents_example_finds_the_local_head_by_itself(keyed_head: HeadNode, tmp_path: Path) -> None:
    """As written: no address and no key in the code; the port from settings, the key from the local head."""
    import subprocess
    import sys

    script = tmp_path / "example.py"
    script.write_text(DOCUMENT_EXAMPLE, encoding="utf-8")
    port = keyed_head.scheduler_address.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if k != "PYCLUSTER_AUTH_KEY"}
    env["PYCLUSTER_SCHEDULER_PORT"] = port
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert f"Cluster profile of {keyed_head.scheduler_address}" in done.stdout
    assert "documented_op  7" in done.stdout
