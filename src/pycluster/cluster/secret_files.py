"""Secrets kept in files: the cluster key, the API token, a head's connection file.

Written user-only from the first byte; refused when read back with looser permissions,
as ssh refuses a private key that others can read (someone else may have read or
replaced it). Announced with their value only on a terminal: anywhere else (a
service's journal, a CI log) only the file's path is printed.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "api_token"
>>> value, created = secret_in_file(path, lambda: "s3cret")
>>> (value, created, read_secret(path))
('s3cret', True, 's3cret')
>>> secret_in_file(path, lambda: "other")
('s3cret', False)
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..errors import AuthenticationError
from .ports import is_loopback

__all__ = [
    "check_private",
    "head_secret",
    "private_dir",
    "private_file",
    "read_secret",
    "say_secret",
    "secret_in_file",
    "write_secret",
]

_POSIX = os.name == "posix"


def check_private(path: Path) -> None:
    """:class:`AuthenticationError` unless ``path`` is owned by this user and unreadable by others.

    Windows has no mode bits to read here (its ACLs follow the user's profile folder): not checked.
    """
    if not _POSIX:
        return
    info = path.stat()
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if info.st_uid != os.getuid() or loose:
        raise AuthenticationError(
            f"{path} holds a secret but {_who_else(info.st_uid, loose)}; refusing to use it. "
            f"If the file is yours, fix it with: chmod 600 {path}"
            + ("" if info.st_uid == os.getuid() else f" && chown {os.getuid()} {path}")
            + "; otherwise delete it so a new secret is generated"
        )


def _who_else(owner: int, loose: int) -> str:
    if owner != os.getuid():
        return f"it belongs to user id {owner}, not to you"
    return f"its permissions ({oct(loose)} for group/others) let other users read or change it"


def read_secret(path: Path) -> str:
    """The secret stored in ``path`` (stripped), after :func:`check_private`."""
    check_private(path)
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise AuthenticationError(f"{path} is empty; delete it so a new secret is generated")
    return value


def write_secret(path: Path, value: str) -> None:
    """Create ``path`` holding ``value``, user-only from the first byte (fails if it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)


def private_dir(path: Path) -> Path:
    """``path`` made if missing and set to 0700, whatever the umask: a head's state directory
    (jobs, results, uploads, the API token) is its user's alone. A folder someone else owns is
    left as it is (only its owner may change its mode)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _POSIX and path.stat().st_uid == os.getuid():
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty if missing, and set to 0600 whatever the umask (SQLite then gives
    its -wal and -shm files the same mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if _POSIX:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def secret_in_file(path: Path, generate: Callable[[], str]) -> tuple[str, bool]:
    """``(secret, created)``: the one stored in ``path``, or a new one from ``generate`` stored there."""
    if path.is_file():
        return read_secret(path), False
    value = generate()
    try:
        write_secret(path, value)
    except FileExistsError:  # another process created it in between: theirs wins
        return read_secret(path), False
    return value, True


def say_secret(
    what: str, value: str, path: Path, say: Callable[[str], None], stream: TextIO | None = None
) -> str:
    """Announce a generated secret: its value on a terminal, else only where it is stored.

    Returns the text said (tests read it).
    """
    stream = stream or sys.stderr
    on_terminal = bool(getattr(stream, "isatty", lambda: False)())
    shown = f"  {value}\n" if on_terminal else ""
    text = f"Generated {what} (stored user-only in {path}):\n{shown}".rstrip("\n")
    if not on_terminal:
        text += f"\n  (not printed: this output is not a terminal; read it with: cat {path})"
    say(text)
    return text


def head_secret(
    path: Path, generate: Callable[[], str], what: str, host: str, say: Callable[[str], None]
) -> tuple[str, bool]:
    """``(secret, announced)``: a head's key or token from ``path``, made there on first use.

    On loopback nothing is said (local programs read it from the head's connection file);
    a head open to the network says where it is, and a new one is shown once on a terminal
    (``announced``: the caller adds how to use it).
    """
    value, created = secret_in_file(path, generate)
    if is_loopback(host):
        return value, False
    if not created:
        say(f"pycluster: {host} is not loopback; using the {what} stored in {path}")
        return value, False
    say_secret(f"{'an' if what[0] in 'AEIOU' else 'a'} {what} for this head on {host}", value, path, say)
    return value, True
