"""Connection files: how this user's programs find the heads running on this machine.

Every head has a cluster key, loopback heads too. A running head writes a connection file
(its addresses and secrets, user-only, in a user-only folder) and removes it when it
stops, as Jupyter does with its runtime files. Local workers, ``ClusterManager.connect``
and the CLI read the key from there when none is given, so a user on the head's machine
never handles the key, and other users of the machine never can.

The folder is ``PYCLUSTER_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/pycluster``, else
``<temp>/pycluster-<uid>``.

>>> import os, tempfile
>>> os.environ["PYCLUSTER_RUNTIME_DIR"] = tempfile.mkdtemp()
>>> path = publish("tls://127.0.0.1:8786", "http://127.0.0.1:8787", "k" * 43, "t" * 32)
>>> key_for("tcp://localhost:8786") == "k" * 43
True
>>> withdraw(path); key_for("tcp://127.0.0.1:8786") is None
True
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AuthenticationError
from .ports import is_loopback, split_address
from .secret_files import check_private, write_secret

__all__ = ["LocalHead", "find_local_head", "key_for", "publish", "runtime_dir", "withdraw"]


@dataclass(frozen=True)
class LocalHead:
    """What a running head publishes for its own user."""

    scheduler_address: str
    dashboard_url: str | None
    auth_key: str | None
    api_token: str | None
    pid: int


def runtime_dir() -> Path:
    """This user's folder of connection files (created user-only when missing)."""
    configured = os.environ.get("PYCLUSTER_RUNTIME_DIR") or ""
    xdg = os.environ.get("XDG_RUNTIME_DIR") or ""
    if configured:
        folder = Path(configured)
    elif xdg and Path(xdg).is_dir():
        folder = Path(xdg) / "pycluster"
    else:
        uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        folder = Path(tempfile.gettempdir()) / f"pycluster-{uid}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private(folder)  # in a shared temp folder another user could have made it first
    return folder


def publish(
    scheduler_address: str, dashboard_url: str | None, auth_key: str | None, api_token: str | None
) -> Path:
    """Write this process's head's connection file; its path (give it to :func:`withdraw`)."""
    head = LocalHead(scheduler_address, dashboard_url, auth_key, api_token, os.getpid())
    _, port = split_address(scheduler_address)
    path = runtime_dir() / f"head-{port}-{os.getpid()}.json"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by an earlier head of this process on the same port
    write_secret(path, json.dumps(asdict(head)))
    return path


def withdraw(path: Path | None) -> None:
    """Remove a connection file (the head stopped)."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def find_local_head(address: str) -> LocalHead | None:
    """The running head of this user whose scheduler is ``address`` on this machine, if any."""
    try:
        host, port = split_address(address)
    except ValueError:
        return None  # not an address: no head of ours is there
    if not is_loopback(host):
        return None
    try:
        candidates = sorted(runtime_dir().glob(f"head-{port}-*.json"))
    except (OSError, AuthenticationError):
        return None
    for path in candidates:
        head = _read(path)
        if head is not None:
            return head
    return None


def key_for(address: str) -> str | None:
    """The cluster key of this user's head at ``address`` on this machine, if one runs there."""
    head = find_local_head(address)
    return head.auth_key if head else None


def _read(path: Path) -> LocalHead | None:
    try:
        check_private(path)
        head = LocalHead(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AuthenticationError):
        return None
    if not _alive(head.pid):
        withdraw(path)  # its head was killed before it could clean up
        return None
    return head


def _alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))
