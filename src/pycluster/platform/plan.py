"""An install plan: the files to write and the commands to run, shown by a dry run and run otherwise.

The installers (``install-windows``, ``WindowsClusterManager.install_service``) only build a
:class:`Plan`; a dry run prints it and :meth:`Plan.execute` does exactly what it printed,
so what a dry run shows on Linux is what the installer does on Windows.

>>> plan = Plan([Step("open the scheduler port", command=["ufw", "allow", "8786/tcp"])], windows=False)
>>> print(plan)
# open the scheduler port
ufw allow 8786/tcp
>>> bool(plan)  # nothing was done
False
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from ..errors import PlatformError

__all__ = ["Plan", "Step", "command_line"]


@dataclass(frozen=True)
class Step:
    """One thing an installer does: write ``path`` with ``content``, or run ``command``.

    ``command`` is an argv list, or a whole command line where the program parses it itself
    (``netsh`` reads ``name="PyCluster Scheduler"`` from its command line).
    """

    description: str
    command: list[str] | str | None = None
    path: PurePath | None = None
    content: bytes | None = None

    def __post_init__(self) -> None:
        if (self.command is None) == (self.path is None) or (self.path is None) != (self.content is None):
            raise ValueError("a step either writes a file (path and content) or runs a command")


@dataclass
class Plan:
    """The steps in order; true only once :meth:`execute` has done all of them."""

    steps: list[Step]
    windows: bool
    applied: bool = False
    outputs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.applied

    def __str__(self) -> str:
        return self.render()

    @property
    def commands(self) -> list[str]:
        """Every command line, in order, as the target's shell would read it."""
        return [command_line(s.command, self.windows) for s in self.steps if s.command is not None]

    @property
    def files(self) -> list[PurePath]:
        return [s.path for s in self.steps if s.path is not None]

    def render(self, contents: bool = True) -> str:
        """The plan as text: a ``#`` line per step, then its command, or the file and its text."""
        lines: list[str] = []
        for step in self.steps:
            lines.append(f"# {step.description}")
            if step.command is not None:
                lines.append(command_line(step.command, self.windows))
                continue
            assert step.content is not None
            lines.append(f"write {step.path} ({len(step.content)} bytes)")
            if contents:
                text = step.content.decode("utf-8-sig", errors="replace")
                lines.extend(f"    | {line}" for line in text.splitlines())
        return "\n".join(lines)

    def execute(self, timeout: float = 120) -> Plan:
        """Do every step in order; stops at the first failure with :class:`PlatformError`
        naming the step, its command and output (steps done before it stay done)."""
        for step in self.steps:
            if step.path is not None and step.content is not None:
                target = Path(step.path)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(step.content)
                except OSError as exc:
                    raise PlatformError(
                        f"cannot {step.description}: writing {target} failed: {exc}"
                    ) from None
                self.outputs.append(f"wrote {target}")
                continue
            assert step.command is not None
            self.outputs.append(_run(step, self.windows, timeout))
        self.applied = True
        return self


def command_line(command: list[str] | str, windows: bool) -> str:
    """``command`` as one line: cmd.exe quoting for Windows, POSIX shell quoting elsewhere."""
    if isinstance(command, str):
        return command
    return subprocess.list2cmdline(command) if windows else shlex.join(command)


def _run(step: Step, windows: bool, timeout: float) -> str:
    assert step.command is not None
    argv: list[str] | str = step.command
    if isinstance(argv, str) and os.name != "nt":
        argv = shlex.split(argv)
    line = command_line(step.command, windows)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PlatformError(f"cannot {step.description}: {line!r} did not run: {exc}") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise PlatformError(
            f"cannot {step.description}: {line!r} failed with exit code {done.returncode}"
            f" (the installer needs Administrator for firewall rules and services): {output}"
        )
    return output
