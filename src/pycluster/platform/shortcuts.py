r"""Windows shortcuts: ``.lnk`` files that start a program, ``.url`` files that open a page.

A ``.lnk`` is a binary Windows Shell file, so the installer writes a PowerShell script that
asks the Shell (``WScript.Shell``) to make each one, and runs it; a ``.url`` is plain text
and is written directly. Both are :class:`~pycluster.platform.plan.Step` objects, so a dry run
shows the script's text and the files exactly.

>>> folders = WindowsFolders.from_environment({"APPDATA": r"C:\Users\me\AppData\Roaming",
...                                            "USERPROFILE": r"C:\Users\me"})
>>> print(folders.desktop)
C:\Users\me\Desktop
>>> url_shortcut(folders.desktop / "PyCluster Dashboard.url", "http://localhost:8787/").content
b'[InternetShortcut]\r\nURL=http://localhost:8787/\r\n'
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath

from ..errors import ConfigError
from .plan import Step
from .quoting import check_argument, ps_quote

__all__ = ["Shortcut", "WindowsFolders", "cmd_exe", "shortcut_script", "url_shortcut"]

_CSIDL_PROGRAMS = 0x02  # the user's Start Menu\Programs
_CSIDL_DESKTOPDIRECTORY = 0x10  # the user's desktop (wherever OneDrive or policy moved it)
_CSIDL_APPDATA = 0x1A


@dataclass(frozen=True)
class WindowsFolders:
    """The user's folders the installer writes into (Windows paths, also when planned elsewhere)."""

    appdata: PureWindowsPath
    programs: PureWindowsPath  # Start Menu\Programs
    desktop: PureWindowsPath

    @property
    def config_dir(self) -> PureWindowsPath:
        """``%APPDATA%\\PyCluster``, pycluster's config folder on Windows."""
        return self.appdata / "PyCluster"

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> WindowsFolders:
        """From ``APPDATA`` and ``USERPROFILE``; a variable that is not set stays ``%NAME%``
        (a dry run on another system shows where the files would go on any Windows machine)."""
        env = os.environ if env is None else env
        appdata = PureWindowsPath(env.get("APPDATA") or "%APPDATA%")
        profile = PureWindowsPath(env.get("USERPROFILE") or "%USERPROFILE%")
        programs = appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs"
        return cls(appdata, programs, profile / "Desktop")

    @classmethod
    def of_this_user(cls) -> WindowsFolders:
        """The Shell's answer on Windows (a redirected desktop included); the environment's elsewhere."""
        guess = cls.from_environment()
        if os.name != "nt":
            return guess
        return cls(
            _shell_folder(_CSIDL_APPDATA) or guess.appdata,
            _shell_folder(_CSIDL_PROGRAMS) or guess.programs,
            _shell_folder(_CSIDL_DESKTOPDIRECTORY) or guess.desktop,
        )


@dataclass(frozen=True)
class Shortcut:
    """A ``.lnk`` at ``path`` that runs ``target`` with ``arguments`` (the command line it gets)."""

    path: PureWindowsPath
    target: str
    arguments: str
    description: str
    working_directory: str | None = None

    @classmethod
    def console(cls, path: PureWindowsPath, command: Sequence[str], description: str) -> Shortcut:
        """A shortcut running ``command`` in a console window that stays open after it ends,
        so its last message can be read: ``cmd.exe /s /k "COMMAND"``.

        With ``/s`` cmd.exe drops exactly the outer quotes, so paths with spaces keep theirs.
        """
        for arg in command:
            if "%" in check_argument(arg, windows=True):
                # cmd.exe expands %NAME% on its command line, quoted or not: it would run something else
                raise ConfigError(f"{arg!r} contains '%', which cmd.exe would expand; use a path without it")
        line = subprocess.list2cmdline(list(command))
        return cls(path, cmd_exe(), f'/s /k "{line}"', description)


def shortcut_script(shortcuts: Sequence[Shortcut]) -> str:
    """The PowerShell script that creates ``shortcuts`` (their folders too)."""
    lines = [
        "# Creates PyCluster's shortcuts. Written by pycluster's Windows installer.",
        "$ErrorActionPreference = 'Stop'",
        "$shell = New-Object -ComObject WScript.Shell",
    ]
    for item in shortcuts:
        check_argument(item.arguments)
        lines += [
            f"New-Item -ItemType Directory -Force -Path {ps_quote(str(item.path.parent))} | Out-Null",
            f"$link = $shell.CreateShortcut({ps_quote(str(item.path))})",
            f"$link.TargetPath = {ps_quote(item.target)}",
            # single-quoted: PowerShell expands nothing inside, a quote is doubled
            f"$link.Arguments = '{item.arguments.replace(chr(39), chr(39) * 2)}'",
            f"$link.Description = {ps_quote(item.description)}",
        ]
        if item.working_directory:
            lines.append(f"$link.WorkingDirectory = {ps_quote(item.working_directory)}")
        lines.append("$link.Save()")
    return "\r\n".join(lines) + "\r\n"


def url_shortcut(path: PureWindowsPath, url: str) -> Step:
    """A step writing an Internet shortcut: double-clicking it opens ``url`` in the browser."""
    check_argument(url)
    return Step(f"create {path.name}", path=path, content=f"[InternetShortcut]\r\nURL={url}\r\n".encode())


def cmd_exe() -> str:
    """``%SystemRoot%\\System32\\cmd.exe`` (``C:\\Windows\\...`` when planned on another system)."""
    root = os.environ.get("SYSTEMROOT") if os.name == "nt" else None
    return str(PureWindowsPath(root or r"C:\Windows") / "System32" / "cmd.exe")


def _shell_folder(csidl: int) -> PureWindowsPath | None:
    import ctypes

    buffer = ctypes.create_unicode_buffer(260)
    try:
        failed = ctypes.windll.shell32.SHGetFolderPathW(None, csidl, None, 0, buffer)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    return PureWindowsPath(buffer.value) if failed == 0 and buffer.value else None
