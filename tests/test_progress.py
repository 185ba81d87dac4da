"""pycluster.progress: tqdm on a terminal, plain lines with rate and ETA in a log, tqdm.auto in Jupyter."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import types
from pathlib import Path

import pytest

from pycluster.progress import Progress, in_jupyter

SRC = str(Path(__file__).resolve().parents[1] / "src")

# a coordinator map with verbose=True whose progress goes to stderr (a pipe or a terminal)
SCRIPT = """
from pycluster.parallel import DistributedCoordinator
import time
def slow(x):
    time.sleep(0.002)
    return x
print(sum(DistributedCoordinator("multiprocessing", verbose=True).map(slow, range(400), chunksize=10)))
"""


def run_script(stderr: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=stderr, env=env)


def test_through_a_pipe_only_plain_lines_with_rate_and_eta() -> None:
    process = run_script(subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == str(sum(range(400)))
    text = err.decode()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    # a line per tenth at most (the chunks arrive in steps of 10 of 400), the last one complete
    assert 2 <= len(lines) <= 11, text
    assert lines[-1].startswith("map: 100% 400/400 [") and "item/s" in lines[-1], text
    # elapsed<remaining: the ETA tqdm computes from the rate so far
    assert all("<" in line and ("item/s" in line or "s/item" in line) for line in lines), text


def test_on_a_terminal_tqdm_redraws_one_line() -> None:
    controller, terminal = pty.openpty()
    # a fresh pty is 0 columns wide; give it a terminal's 100x30 as a window would
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    try:
        process = run_script(terminal)
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end closed: the process is done with it
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    finally:
        os.close(controller)
    text = b"".join(chunks).decode(errors="replace")
    assert text.count("\r") >= 2, text  # redrawn in place
    assert "400/400" in text and "|" in text and "item/s" in text


def test_plain_lines_follow_status_changes_and_a_changing_total(tmp_path: Path) -> None:
    log = tmp_path / "wait.log"
    with log.open("w") as stream, Progress(None, "job_1", unit="piece", stream=stream) as bar:
        assert bar.plain
        bar.set_status("queued: no workers are connected yet")
        bar.set_status("queued: no workers are connected yet")  # the same state: no new line
        bar.set_status("running")
        bar.set(0, 4)
        for done in range(1, 5):
            bar.set(done, 4)
        bar.set_status("completed")
    lines = log.read_text().splitlines()
    assert lines[0].startswith("job_1: 0") and lines[0].endswith(", queued: no workers are connected yet]")
    assert [line.rsplit(", ", 1)[1] for line in lines[1:]] == ["running]"] * 5 + ["completed]"]
    assert lines[-2].startswith("job_1: 100% 4/4 [")


def test_disabled_prints_nothing(tmp_path: Path) -> None:
    log = tmp_path / "quiet.log"
    with log.open("w") as stream, Progress(10, "x", stream=stream, disable=True) as bar:
        bar.update(10)
    assert log.read_text() == ""


def test_in_a_jupyter_kernel_tqdm_auto_draws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a stand-in for IPython as ipykernel leaves it: get_ipython() with an IPKernelApp config.
    # stderr there is no terminal, yet a bar is right (tqdm.auto: a widget, or text without ipywidgets)
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert in_jupyter()
    with Progress(3, "cells") as bar:
        assert not bar.plain
        bar.update(3)
    assert "cells: 100%|" in capsys.readouterr().err  # tqdm's bar, not a plain line
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not in_jupyter()
