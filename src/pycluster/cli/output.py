"""What every ``pycluster`` command prints the same way: errors, JSON, and the stop signals.

>>> print_json({"n_workers": 2})
{
  "n_workers": 2
}
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

__all__ = ["fail", "on_stop_signal", "print_json"]


def fail(problem: Exception | str) -> NoReturn:
    """Print ``error: PROBLEM`` in red on stderr and exit with status 1."""
    click.secho(f"error: {problem}", fg="red", err=True)
    sys.exit(1)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def on_stop_signal(callback: Callable[[], object]) -> None:
    """Call ``callback`` on Ctrl-C, SIGTERM (or Ctrl-Break on Windows) instead of raising."""
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: callback())
