"""Quoting one argument for each kind of script pycluster writes.

Every function refuses what it cannot pass through safely (a line break, and
for Windows scripts a double quote) instead of writing a script that does
something else.

>>> sh_quote("/opt/my tools/python")
"'/opt/my tools/python'"
>>> bat_quote("C:\\\\Program Files\\\\Python\\\\python.exe")
'"C:\\\\Program Files\\\\Python\\\\python.exe"'
>>> bat_quote("100%")
'"100%%"'
"""

from __future__ import annotations

import re
import shlex

from ..errors import ConfigError

__all__ = ["bat_quote", "check_argument", "ps_quote", "sh_quote", "systemd_quote"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_argument(arg: str, windows: bool = False) -> str:
    """``arg``, or :class:`ConfigError` when no script could pass it safely."""
    if _CONTROL.search(arg):
        raise ConfigError(
            f"{arg!r} contains a line break or control character; scripts cannot pass it safely"
        )
    if windows and '"' in arg:
        raise ConfigError(f"{arg!r} contains a double quote, which a Windows script cannot pass safely")
    return arg


def sh_quote(arg: str) -> str:
    """POSIX shell: single quotes (``shlex.quote``)."""
    return shlex.quote(check_argument(arg))


def bat_quote(arg: str) -> str:
    """cmd.exe batch file: always double quotes; ``%`` doubled (batch expands it even inside quotes).

    Backslashes before the closing quote are doubled, or the program's C runtime
    would read ``\\"`` as a literal quote.
    """
    check_argument(arg, windows=True)
    arg = re.sub(r"(\\+)$", r"\1\1", arg)
    return '"' + arg.replace("%", "%%") + '"'


def ps_quote(arg: str) -> str:
    """PowerShell: single quotes (nothing expands inside), a quote doubled."""
    check_argument(arg, windows=True)
    return "'" + arg.replace("'", "''") + "'"


def systemd_quote(arg: str) -> str:
    """A systemd ``ExecStart=`` word: double quotes and C escapes; ``%`` and ``$`` doubled.

    systemd expands ``%`` specifiers and ``$`` variables inside quotes too.
    """
    check_argument(arg)
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
