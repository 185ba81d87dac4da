"""Saved cluster configs in a real (temporary) config folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pycluster import ConfigError, WindowsClusterManager
from pycluster.platform import config_store
from pycluster.platform.config_store import resolve_config_option

DOC_CONFIG = {
    "cluster_name": "production",
    "host": "0.0.0.0",
    "scheduler_port": 8786,
    "dashboard_port": 8787,
    "local_workers": 4,
}


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WindowsClusterManager:
    monkeypatch.setenv("PYCLUSTER_CONFIG_DIR", str(tmp_path / "cfg"))
    return WindowsClusterManager()


def test_the_documents_example_round_trips(manager: WindowsClusterManager, tmp_path: Path) -> None:
    assert manager.save_cluster_config(DOC_CONFIG, "production") is True
    assert (tmp_path / "cfg" / "production.json").is_file()
    assert manager.load_cluster_config("production") == DOC_CONFIG
    assert manager.list_cluster_configs() == ["production"]
    assert manager.config_dir == tmp_path / "cfg"


def test_unknown_name_is_none_and_delete_says_whether_it_existed(manager: WindowsClusterManager) -> None:
    assert manager.load_cluster_config("nothing-here") is None
    assert manager.list_cluster_configs() == []
    manager.save_cluster_config({"cluster_name": "x"}, "x")
    assert manager.delete_cluster_config("x") is True
    assert manager.delete_cluster_config("x") is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"cluster_name": "a", "workers": 4}, r"unknown keys \['workers'\]; allowed keys: cluster_name"),
        (
            {"scheduler_port": "abc"},
            "cluster config 'keep': bad value for scheduler_port: 'abc' is not a whole number",
        ),
        ({"scheduler_port": 70000}, "bad value for scheduler_port: 70000"),
        ({"memory_limit": "lots"}, "bad value for memory_limit: "),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_configs_are_refused_and_nothing_is_written(
    manager: WindowsClusterManager, config: object, message: str
) -> None:
    manager.save_cluster_config({"cluster_name": "good"}, "keep")
    with pytest.raises(ConfigError, match=message):
        manager.save_cluster_config(config, "keep")  # type: ignore[arg-type]
    assert manager.load_cluster_config("keep") == {"cluster_name": "good"}  # the old one is intact
    assert [p.name for p in manager.config_dir.iterdir()] == ["keep.json"]  # no temp files left


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "with space", "CON", "nul", "-dash", "x" * 65])
def test_unsafe_names_are_refused(manager: WindowsClusterManager, name: str) -> None:
    with pytest.raises(ConfigError, match="is not allowed: use 1-64 letters"):
        manager.save_cluster_config({"cluster_name": "x"}, name)


def test_damaged_files_are_reported_on_load(manager: WindowsClusterManager) -> None:
    manager.config_dir.mkdir(parents=True)
    (manager.config_dir / "broken.json").write_text("{not json", encoding="utf-8")
    (manager.config_dir / "odd.json").write_text(json.dumps({"local_workers": -1}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken.json is not valid JSON .* save the config again"):
        manager.load_cluster_config("broken")
    with pytest.raises(ConfigError, match=r"odd.json: bad value for local_workers: -1 is negative"):
        manager.load_cluster_config("odd")


def test_null_turns_optional_ports_off(manager: WindowsClusterManager) -> None:
    config = {"cluster_name": "quiet", "discovery_port": None, "dask_dashboard_port": None}
    manager.save_cluster_config(config, "quiet")
    values = config_store.settings_values(manager.load_cluster_config("quiet") or {})
    assert values == {"cluster": {"name": "quiet", "discovery_port": "off", "dask_dashboard_port": "off"}}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks the Linux (XDG) folder")
def test_default_folder_is_xdg_on_linux(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PYCLUSTER_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_store.config_dir() == tmp_path / "xdg" / "pycluster"


def test_config_option_is_a_path_or_a_saved_name(manager: WindowsClusterManager, tmp_path: Path) -> None:
    yaml_file = tmp_path / "pycluster.yaml"
    yaml_file.write_text("cluster:\n  name: from-yaml\n", encoding="utf-8")
    assert resolve_config_option(str(yaml_file)) == (yaml_file, None)
    manager.save_cluster_config(DOC_CONFIG, "production")
    assert resolve_config_option("production") == (None, DOC_CONFIG)
    with pytest.raises(ConfigError, match=r"'staging' is neither an existing file nor a saved .* production"):
        resolve_config_option("staging")
    assert os.environ["PYCLUSTER_CONFIG_DIR"] == str(manager.config_dir)
