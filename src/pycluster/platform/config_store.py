"""Saved cluster configs: one JSON file per name in the platform's config folder.

The folder is ``%APPDATA%\\PyCluster`` on Windows, ``~/Library/Application
Support/PyCluster`` on macOS and ``$XDG_CONFIG_HOME/pycluster`` (``~/.config/pycluster``)
on Linux; ``PYCLUSTER_CONFIG_DIR`` overrides it. A config has the product documents'
keys (``cluster_name``, ``host``, ``scheduler_port``, ``dashboard_port``,
``local_workers``, ...) and is checked with the same rules as every other setting,
on save and on load.

>>> save_cluster_config({"cluster_name": "production", "local_workers": 4}, "production")  # doctest: +SKIP
True
>>> load_cluster_config("production")["local_workers"]  # doctest: +SKIP
4
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import flat_key, setting_keys
from ..errors import ConfigError
from ..user_dirs import config_dir

__all__ = [
    "CONFIG_KEYS",
    "check_name",
    "config_dir",
    "config_path",
    "delete_cluster_config",
    "list_cluster_configs",
    "load_cluster_config",
    "resolve_config_option",
    "save_cluster_config",
    "settings_values",
    "validate_cluster_config",
]

# saved-config key -> (section, key) of the setting it stands for: every setting's flat key
# (config.flat_key: cluster_name, scheduler_port, gpu_memory_fraction, ...), the same names the
# environment uses after PYCLUSTER_, plus local_workers, the documents' name for n_workers
_SETTINGS = {s.flat: s for s in setting_keys()}
CONFIG_KEYS: dict[str, tuple[str, str]] = {
    **{flat: (s.section, s.key) for flat, s in _SETTINGS.items()},
    "local_workers": ("cluster", "n_workers"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# names Windows reserves for devices, whatever the extension (con.json is the console)
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)}


def check_name(name: str, what: str = "config name") -> str:
    """``name`` if it is safe as a file (and service) name on every platform, else :class:`ConfigError`."""
    if not isinstance(name, str) or not _NAME.match(name) or name.lower() in _WINDOWS_RESERVED:
        raise ConfigError(
            f"{what} {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (and not a Windows device name such as CON or NUL)"
        )
    return name


def config_path(name: str, directory: Path | None = None) -> Path:
    return (directory or config_dir()) / f"{check_name(name)}.json"


def validate_cluster_config(config: Any, source: str = "cluster config") -> dict[str, Any]:
    """A checked copy of ``config``; :class:`ConfigError` names the bad key and what is allowed."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{source} must be a mapping of keys to values, got {type(config).__name__}")
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"{source} has unknown keys {unknown}; allowed keys: {', '.join(CONFIG_KEYS)}")
    for saved_key, value in config.items():
        section, key = CONFIG_KEYS[saved_key]
        if value is None:
            continue  # null: the default, or off for what can be turned off (settings_values)
        # the same parsers as pycluster.yaml and PYCLUSTER_* use, so a value means the same everywhere
        try:
            _SETTINGS[flat_key(section, key)].parse(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: bad value for {saved_key}: {exc}") from None
    return dict(config)


def settings_values(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``config`` as settings sections, for ``Settings.load(config_values=...)``."""
    sections: dict[str, dict[str, Any]] = {"cluster": {}}
    for saved_key, value in config.items():
        section, key = CONFIG_KEYS[saved_key]
        if value is None and _turns_off(saved_key):
            value = "off"  # null turns off what can be (discovery, Dask's dashboard), else the default
        if value is not None:
            sections.setdefault(section, {})[key] = value
    return sections


def _turns_off(saved_key: str) -> bool:
    section, key = CONFIG_KEYS[saved_key]
    try:
        return _SETTINGS[flat_key(section, key)].parse("off") is None
    except (TypeError, ValueError):
        return False


def save_cluster_config(
    config: Mapping[str, Any], name: str = "default", directory: Path | None = None
) -> bool:
    """Check ``config`` and write it as ``NAME.json``; True. A bad config raises and writes nothing."""
    path = config_path(name, directory)
    checked = validate_cluster_config(config, f"cluster config {name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # write beside it and rename: a crash mid-write never leaves half a config behind
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(checked, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def load_cluster_config(name: str = "default", directory: Path | None = None) -> dict[str, Any] | None:
    """The saved config ``name``, None when there is none; a damaged file raises :class:`ConfigError`."""
    path = config_path(name, directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read saved cluster config {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"saved cluster config {path} is not valid JSON ({exc}); fix the file, or save the config again"
        ) from None
    return validate_cluster_config(data, f"saved cluster config {path}")


def list_cluster_configs(directory: Path | None = None) -> list[str]:
    """Names of the saved configs, sorted."""
    folder = directory or config_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME.match(p.stem))


def delete_cluster_config(name: str, directory: Path | None = None) -> bool:
    """Remove the saved config ``name``; False when there was none."""
    path = config_path(name, directory)
    if not path.exists():
        return False
    path.unlink()
    return True


def resolve_config_option(value: str) -> tuple[Path | None, dict[str, Any] | None]:
    """What ``--config VALUE`` means: an existing YAML file (path, None) or a saved config (None, config).

    Neither raises :class:`ConfigError` listing the saved configs.
    """
    path = Path(value).expanduser()
    if path.is_file():
        return path, None
    saved = load_cluster_config(value) if _NAME.match(value) else None
    if saved is not None:
        return None, saved
    names = ", ".join(list_cluster_configs()) or "none yet"
    raise ConfigError(
        f"--config {value!r} is neither an existing file nor a saved cluster config. "
        f"Saved configs in {config_dir()}: {names}. Give a pycluster.yaml path, or save a config "
        "first (WindowsClusterManager().save_cluster_config(config, name))."
    )
