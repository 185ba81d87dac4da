"""Where a model's weights are: a local folder, PYCLUSTER_MODEL_CACHE_DIR, or the HF cache.

Nothing is downloaded: serving runs offline, and a missing model says how to fetch it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelNotFoundError

__all__ = ["resolve_model"]


def resolve_model(model_name: str, cache_dir: str | None = None) -> str:
    """The local folder holding ``model_name`` (with a config.json), or ModelNotFoundError."""
    path = Path(model_name).expanduser()
    if _has_config(path):
        return str(path.resolve())
    if cache_dir:
        flat = Path(cache_dir).expanduser() / model_name
        if _has_config(flat):
            return str(flat.resolve())
    for cache in _hub_caches(cache_dir):
        found = _from_hub_cache(model_name, cache)
        if found:
            return found
    where = cache_dir or "the Hugging Face cache"
    raise ModelNotFoundError(
        f"model {model_name!r} is not a local folder with a config.json and is not in {where}. "
        f"Fetch it on a machine with internet access: "
        f"huggingface-cli download {model_name} --local-dir <folder>, then deploy that folder "
        f"(or put it under PYCLUSTER_MODEL_CACHE_DIR)"
    )


def _has_config(folder: Path) -> bool:
    """Whether ``folder`` holds a config.json; a name no file system takes (a part over 255
    bytes, a NUL) is simply not a folder here, not an error."""
    try:
        return (folder / "config.json").is_file()
    except (OSError, ValueError):
        return False


def _hub_caches(cache_dir: str | None) -> list[str | None]:
    return [cache_dir, None] if cache_dir else [None]


def _from_hub_cache(repo_id: str, cache: str | None) -> str | None:
    if "/" not in repo_id or repo_id.startswith(("/", ".", "~")) or os.sep in repo_id.replace("/", ""):
        return None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        folder = snapshot_download(repo_id, cache_dir=cache, local_files_only=True)
    except Exception:  # not cached (or not a valid repo id): the caller says how to fetch it
        return None
    return folder if (Path(folder) / "config.json").is_file() else None
