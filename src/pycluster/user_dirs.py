"""The user's pycluster config folder, where saved configs, scripts and connection files live.

``%APPDATA%\\PyCluster`` on Windows (as the documents show), ``~/Library/Application
Support/PyCluster`` on macOS, ``$XDG_CONFIG_HOME/pycluster`` on Linux;
``PYCLUSTER_CONFIG_DIR`` overrides it. It sits at the bottom of the layers because both
the head (``cluster``: the ``cluster_info_<name>.txt`` files) and ``platform`` (saved
configs and startup scripts) write into it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["config_dir"]


def config_dir(create: bool = False) -> Path:
    """Where configs (and generated scripts) live; ``PYCLUSTER_CONFIG_DIR`` overrides the default."""
    override = os.environ.get("PYCLUSTER_CONFIG_DIR")
    path = Path(override).expanduser() if override else _platform_dir()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _platform_dir() -> Path:
    from platformdirs import user_config_dir

    if sys.platform.startswith("linux"):
        return Path(user_config_dir("pycluster", appauthor=False))
    # Windows: %APPDATA%\PyCluster (roaming, as the documents show); macOS: Application Support
    return Path(user_config_dir("PyCluster", appauthor=False, roaming=True))
