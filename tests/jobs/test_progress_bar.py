"""The ``pycluster jobs wait`` progress bar: redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
from typing import Any

from pycluster.cli.jobs import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def states() -> list[dict[str, Any]]:
    queued = {"status": "queued", "progress": 0.0, "waiting_reason": "no workers are connected yet"}
    running = [
        {
            "status": "running",
            "progress": p,
            "pieces_done": p // 25,
            "pieces_total": 4,
            "eta_seconds": 9 - p / 12,
        }
        for p in (0, 3, 25, 50, 51, 75)
    ]
    done = {"status": "completed", "progress": 100.0, "pieces_done": 4, "pieces_total": 4, "eta_seconds": 0}
    return [queued, queued, *running, done]


def test_on_a_terminal_the_bar_redraws_one_line() -> None:
    out = Terminal()
    bar = ProgressBar(out, "job_1")
    for state in states():
        bar.show(state)
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == len(states()) and text.count("\n") == 1 and text.endswith("\n")
    assert "ETA 3 s" in text and "no workers are connected yet" in text


def test_elsewhere_one_plain_line_per_change() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, "job_1")
    for state in states():
        bar.show(state)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # the repeated queued state and the 1-point steps (3 %, 51 %) print nothing
    assert [line.split()[1].rstrip(":") for line in lines] == [
        "queued",
        "running",
        "running",
        "running",
        "running",
        "completed",
    ]
    assert lines[0] == "job_1 queued: no workers are connected yet"
    assert "ETA" in lines[2] and "25.0% 1/4 pieces" in lines[2]
