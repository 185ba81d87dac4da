"""Progress for people, through tqdm: a bar with rate and ETA, or plain lines in logs.

Three places it can end up, picked once per bar:

* a Jupyter kernel: ``tqdm.auto`` (a widget when ipywidgets is installed, text otherwise);
* a terminal: tqdm's bar, redrawn in place;
* anything else (a pipe, a log file, CI): a plain line at the first update, then one per
  :data:`PLAIN_STEP` of the total or change of status (and at least every
  :data:`PLAIN_HEARTBEAT` seconds while updates come), and a last one at the end. Never a carriage return: a
  redrawn bar turns a log into one enormous line.

>>> import io
>>> out = io.StringIO()
>>> with Progress(4, "map", unit="item", stream=out) as bar:
...     bar.update(4)
>>> "\\r" in out.getvalue(), out.getvalue().startswith("map: 100% 4/4")
(False, True)
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm as _std_tqdm

__all__ = ["PLAIN_FORMAT", "PLAIN_HEARTBEAT", "PLAIN_STEP", "Progress", "in_jupyter"]

PLAIN_STEP = 0.1  # a plain line per tenth of the total (and per change of status)
PLAIN_HEARTBEAT = 60.0  # seconds: a slow step still shows a line this often, so a log shows it is alive
# the rate and ETA tqdm computes, without the bar (a log line has no room to redraw one)
PLAIN_FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_PLAIN_FORMAT_NO_TOTAL = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}{postfix}]"


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (where stderr is no terminal, yet a bar can be drawn)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython half-imported or shut down: no notebook to draw in
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Progress:
    """``total`` units of work named ``desc``: :meth:`update` by a step or :meth:`set` to a count.

    ``total=None`` counts without a percentage or ETA. :meth:`set_status` shows a short state
    (``queued: no workers yet``) beside the count. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        total: float | None,
        desc: str,
        *,
        unit: str = "it",
        stream: TextIO | None = None,
        disable: bool = False,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n: float = 0
        self.status = ""
        self._stream = stream if stream is not None else sys.stderr
        self._disabled = disable
        self._started = time.monotonic()
        self._printed: tuple[int, str] | None = None  # plain mode: (step, status) of the last line
        self._printed_at = 0.0
        self._bar: Any = None if disable else self._make_bar()
        self._closed = False

    @property
    def plain(self) -> bool:
        """True when lines are printed instead of a bar redrawn in place."""
        return not self._disabled and self._bar is None

    def _make_bar(self) -> Any:
        options: dict[str, Any] = {"total": self.total, "desc": self.desc, "unit": self.unit, "leave": True}
        if self._stream is sys.stderr and in_jupyter():
            from tqdm.auto import tqdm as auto_tqdm

            return auto_tqdm(**options)
        if _is_terminal(self._stream):
            return _std_tqdm(file=self._stream, dynamic_ncols=True, mininterval=0.1, **options)
        return None

    def update(self, step: float = 1) -> None:
        """``step`` more units done."""
        self.set(self.n + step)

    def set(self, n: float, total: float | None = None) -> None:
        """``n`` units done (of ``total``, when the total has changed, as a job's pieces can)."""
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        step, self.n = n - self.n, n
        if self._bar is not None:
            self._bar.update(step)
        elif self.plain:
            self._maybe_print()

    def set_status(self, status: str) -> None:
        """A short state shown after the rate (a terminal) or starting a new line (a log)."""
        if status == self.status:
            return
        self.status = status
        if self._bar is not None:
            self._bar.set_postfix_str(status, refresh=True)
        elif self.plain:
            self._maybe_print()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.plain and self._printed != (self._step(), self.status):
            self._print()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def line(self) -> str:
        """The plain line for where things stand now (what a log gets)."""
        return _std_tqdm.format_meter(
            self.n,
            self.total,
            time.monotonic() - self._started,
            prefix=self.desc,
            unit=self.unit,
            postfix=self.status or None,
            bar_format=PLAIN_FORMAT if self.total else _PLAIN_FORMAT_NO_TOTAL,
        )

    def _step(self) -> int:
        if not self.total:
            return 0
        return int(min(self.n, self.total) / self.total / PLAIN_STEP + 1e-9)

    def _maybe_print(self) -> None:
        stale = time.monotonic() - self._printed_at >= PLAIN_HEARTBEAT
        if self._printed is None or self._printed != (self._step(), self.status) or stale:
            self._print()

    def _print(self) -> None:
        self._printed = (self._step(), self.status)
        self._printed_at = time.monotonic()
        self._stream.write(self.line() + "\n")
        self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: treat as a log
        return False
