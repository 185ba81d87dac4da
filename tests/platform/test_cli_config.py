"""`pycluster config ...` and `pycluster head --config NAME` as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import CliProcess, cli


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYCLUSTER_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_config_commands_save_show_list_delete(config_dir: Path) -> None:
    saved = cli("config", "save", "small", "cluster_name=small box", "local_workers=0", "discovery_port=")
    assert saved.returncode == 0, saved.stderr
    shown = cli("config", "show", "small")
    assert json.loads(shown.stdout) == {
        "cluster_name": "small box",
        "local_workers": 0,
        "discovery_port": None,
    }
    bad = cli("config", "save", "small", "local_workers=many")
    assert bad.returncode == 1 and "bad value for local_workers" in bad.stderr
    assert "  small" in cli("config", "list").stdout
    assert json.loads((config_dir / "small.json").read_text())["local_workers"] == 0  # unchanged
    assert cli("config", "delete", "small").stdout.strip() == "removed 'small'"
    missing = cli("config", "show", "small")
    assert missing.returncode == 1 and "no saved cluster config named 'small'" in missing.stderr


def test_head_starts_from_a_saved_config_and_options_override_it(config_dir: Path) -> None:
    config = {"cluster_name": "saved-head", "scheduler_port": 1, "dashboard_port": 0, "local_workers": 0}
    (config_dir / "saved.json").write_text(json.dumps(config), encoding="utf-8")
    head = CliProcess(
        "head", "--config", "saved", "--scheduler-port", "0", "--dask-dashboard-port", "off", "--no-discovery"
    )
    try:
        head.wait_for_line(r"pycluster head 'saved-head' is running")
        head.wait_for_line(r"scheduler:\s+(?:tcp|tls)://127\.0\.0\.1:\d+")  # not the config's port 1
        head.wait_for_line(r"discovery:\s+off")
        assert "local workers:    0" in head.output
    finally:
        assert head.stop() == 0


def test_head_config_that_is_neither_file_nor_name_says_what_exists(config_dir: Path) -> None:
    (config_dir / "production.json").write_text(json.dumps({"cluster_name": "p"}), encoding="utf-8")
    done = cli("head", "--config", "staging")
    assert done.returncode == 1
    assert "'staging' is neither an existing file nor a saved cluster config" in done.stderr
    assert "production" in done.stderr
    help_text = " ".join(cli("head", "--help").stdout.split())  # unwrapped
    assert "A pycluster.yaml file, or the name of a saved cluster config" in help_text
