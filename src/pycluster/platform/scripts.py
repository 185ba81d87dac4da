"""Startup scripts: a file that starts a saved cluster's head with one double-click or command.

Windows gets ``start_NAME.bat`` and ``start_NAME.ps1``; Linux and macOS get
``start_NAME.sh``. Every argument is quoted for its script language, so paths
with spaces (``C:\\Program Files\\...``) work.

>>> path = create_cluster_startup_script({"cluster_name": "production", "local_workers": 4})  # doctest: +SKIP
>>> path.name  # doctest: +SKIP
'start_production.sh'
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from .config_store import check_name, config_dir, validate_cluster_config
from .quoting import bat_quote, ps_quote, sh_quote

__all__ = ["create_cluster_startup_script", "head_arguments", "head_command", "script_target"]

# saved-config key -> `pycluster head` option
_OPTIONS = {
    "cluster_name": "--cluster-name",
    "host": "--host",
    "scheduler_port": "--scheduler-port",
    "dashboard_port": "--dashboard-port",
    "dask_dashboard_port": "--dask-dashboard-port",
    "discovery_port": "--discovery-port",
    "local_workers": "--local-workers",
    "n_workers": "--nworkers",
    "threads_per_worker": "--threads-per-worker",
    "memory_limit": "--memory-limit",
}


def head_arguments(config: Mapping[str, Any]) -> list[str]:
    """The ``pycluster head`` arguments that start ``config`` (keys it lacks keep their defaults)."""
    checked = validate_cluster_config(config)
    # a script passes options only; a setting the head takes no option for would be lost silently
    lost = sorted(key for key in checked if key not in _OPTIONS)
    if lost:
        raise ConfigError(
            f"a startup script cannot carry {', '.join(lost)} (no pycluster head option for them): "
            "save the config and start the head with `pycluster head --config NAME`, or set them "
            "in pycluster.yaml"
        )
    argv = ["head"]
    for key, option in _OPTIONS.items():
        if key not in checked:
            continue
        value = checked[key]
        if value is None and key == "discovery_port":
            argv.append("--no-discovery")
        elif value is None and key == "dask_dashboard_port":
            argv += [option, "off"]
        elif value is not None:
            argv += [option, str(value)]
    return argv


def head_command(config: Mapping[str, Any], python: str | None = None) -> list[str]:
    """The whole command line: ``python -m pycluster head ...``."""
    return [python or sys.executable, "-m", "pycluster", *head_arguments(config)]


def script_target(target: str | None) -> str:
    """``windows`` or ``posix``: the script kind to write (``None``: this machine's)."""
    chosen = target or ("windows" if os.name == "nt" else "posix")
    if chosen not in {"windows", "posix"}:
        raise ValueError(f"target must be 'windows' or 'posix', got {target!r}")
    return chosen


def create_cluster_startup_script(
    config: Mapping[str, Any],
    name: str | None = None,
    directory: str | os.PathLike[str] | None = None,
    python: str | None = None,
    target: str | None = None,
) -> Path:
    """Write the script that starts ``config``'s head; its path.

    ``name`` (default: the config's ``cluster_name`` made file-safe, else ``default``) names the
    file ``start_NAME``; ``directory`` defaults to the config folder; ``python``
    to this interpreter; ``target`` (``windows`` or ``posix``) to this machine's
    kind. On Windows the ``.bat`` path is returned and a ``.ps1`` twin written
    beside it. Extra arguments given to the script are passed on to ``pycluster head``.
    """
    kind = script_target(target)
    stem = f"start_{check_name(name, 'script name') if name else _name_from(config)}"
    folder = Path(directory) if directory is not None else config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    command = head_command(config, python)
    title = f"pycluster head {config.get('cluster_name', 'pycluster')!r}"
    if kind == "posix":
        return _write(folder / f"{stem}.sh", _posix_script(command, title), executable=True)
    _write(folder / f"{stem}.ps1", _powershell_script(command, title), encoding="utf-8-sig")
    return _write(folder / f"{stem}.bat", _batch_script(command, title), newline="\r\n")


def _name_from(config: Mapping[str, Any]) -> str:
    """A file-safe name from the cluster name ("my cluster" -> "my-cluster"), else "default"."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(config.get("cluster_name") or "")).strip("-._")[:64]
    try:
        return check_name(text)
    except ConfigError:
        return "default"


def _comment(title: str) -> str:
    # the title lands in a comment: plain characters only, so it cannot end or continue the
    # comment line (a line break; a trailing ^ continues a batch REM onto the next line)
    return "".join(c if c.isalnum() or c in " ._'-" else "?" for c in title)


def _posix_script(command: list[str], title: str) -> str:
    return (
        "#!/bin/sh\n"
        f"# Starts {_comment(title)}. Written by pycluster {__version__}.\n"
        "# Stop it with Ctrl-C or `kill PID`: the head stops its local workers too.\n"
        f'exec {" ".join(sh_quote(a) for a in command)} "$@"\n'
    )


def _batch_script(command: list[str], title: str) -> str:
    return (
        "@echo off\n"
        f"rem Starts {_comment(title)}. Written by pycluster {__version__}.\n"
        "rem Stop it with Ctrl-C (or Ctrl-Break): the head stops its local workers too.\n"
        "setlocal DisableDelayedExpansion\n"
        "chcp 65001 >nul\n"
        f"{' '.join(bat_quote(a) for a in command)} %*\n"
        "exit /b %ERRORLEVEL%\n"
    )


def _powershell_script(command: list[str], title: str) -> str:
    program, *args = command
    return (
        f"# Starts {_comment(title)}. Written by pycluster {__version__}.\n"
        "# Stop it with Ctrl-C: the head stops its local workers too.\n"
        f"& {ps_quote(program)} {' '.join(ps_quote(a) for a in args)} @args\n"
        "exit $LASTEXITCODE\n"
    )


def _write(
    path: Path, text: str, executable: bool = False, encoding: str = "utf-8", newline: str = "\n"
) -> Path:
    with open(path, "w", encoding=encoding, newline=newline) as handle:
        handle.write(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
