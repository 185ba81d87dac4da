"""Startup scripts: the shell one is run for real from a folder with a space in its path."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pycluster import ConfigError, WindowsClusterManager
from pycluster.platform.scripts import create_cluster_startup_script, head_arguments
from tests.helpers import cli, wait_for

CONFIG = {
    "cluster_name": "script test",
    "host": "127.0.0.1",
    "scheduler_port": 0,
    "dashboard_port": 0,
    "dask_dashboard_port": None,
    "discovery_port": 0,
    "local_workers": 0,
}


def test_head_arguments_follow_the_config() -> None:
    assert head_arguments(CONFIG) == [
        "head", "--cluster-name", "script test", "--host", "127.0.0.1", "--scheduler-port", "0",
        "--dashboard-port", "0", "--dask-dashboard-port", "off", "--discovery-port", "0",
        "--local-workers", "0",
    ]  # fmt: skip
    assert head_arguments({"discovery_port": None}) == ["head", "--no-discovery"]


@pytest.mark.skipif(os.name == "nt", reason="runs the POSIX shell script")
def test_the_shell_script_starts_the_head_from_a_path_with_spaces(tmp_path: Path) -> None:
    folder = tmp_path / "my cluster scripts"
    folder.mkdir()
    # a python whose own path has a space too (a wrapper: a symlinked venv python loses its venv)
    python = folder / "py thon"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    script = create_cluster_startup_script(CONFIG, directory=folder, python=str(python), target="posix")
    assert script == folder / "start_script-test.sh"
    proc = subprocess.Popen(
        [str(script)], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None

        def scheduler_line() -> re.Match[str] | None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if not line and proc.poll() is not None:
                raise AssertionError("".join(lines))
            return re.search(r"scheduler:\s+(?:tcp|tls)://127\.0\.0\.1:(\d+)", line)

        port = int(wait_for(scheduler_line, timeout=60, what="the head's banner").group(1))
        assert "pycluster head 'script test' is running" in "".join(lines)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        proc.terminate()  # by PID: `exec` made the script's process the head itself
        assert proc.wait(30) == 0


def test_script_name_comes_from_the_config_or_the_argument(tmp_path: Path) -> None:
    named = create_cluster_startup_script({"cluster_name": "production"}, directory=tmp_path, target="posix")
    assert named.name == "start_production.sh" and os.access(named, os.X_OK)
    given = create_cluster_startup_script({"cluster_name": "production"}, "prod", tmp_path, target="posix")
    assert given.name == "start_prod.sh"
    unnamed = create_cluster_startup_script({"cluster_name": "CON"}, directory=tmp_path, target="windows")
    assert unnamed.name == "start_default.bat"  # CON is a device on Windows, never a file name
    with pytest.raises(ConfigError, match="script name 'my prod' is not allowed"):
        create_cluster_startup_script(CONFIG, "my prod", tmp_path)


def test_windows_scripts_quote_paths_with_spaces_and_percent(tmp_path: Path) -> None:
    python = r"C:\Program Files\Python 3.11\python.exe"
    config = {"cluster_name": "100% ready & set", "local_workers": 2, "memory_limit": "2GB"}
    bat = create_cluster_startup_script(config, "production", tmp_path, python=python, target="windows")
    assert bat.name == "start_production.bat"
    raw = bat.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only: cmd.exe needs it
    command = raw.decode().splitlines()[5]
    assert command == (
        r'"C:\Program Files\Python 3.11\python.exe" "-m" "pycluster" "head" "--cluster-name" '
        r'"100%% ready & set" "--local-workers" "2" "--memory-limit" "2GB" %*'
    )
    assert "rem Starts pycluster head '100? ready ? set'." in raw.decode()
    ps1 = bat.with_suffix(".ps1").read_bytes()
    assert ps1.startswith(b"\xef\xbb\xbf")  # a BOM, or Windows PowerShell 5.1 misreads UTF-8
    assert (
        r"& 'C:\Program Files\Python 3.11\python.exe' '-m' 'pycluster' 'head' '--cluster-name' "
        r"'100% ready & set' '--local-workers' '2' '--memory-limit' '2GB' @args"
    ) in ps1.decode("utf-8-sig")


def test_arguments_no_script_can_carry_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="double quote"):
        create_cluster_startup_script({"cluster_name": 'say "hi"'}, "x", tmp_path, target="windows")
    with pytest.raises(ConfigError, match="line break"):
        create_cluster_startup_script({"cluster_name": "a\nrm -rf /"}, "x", tmp_path, target="posix")
    assert list(tmp_path.iterdir()) == []


def test_manager_and_cli_write_scripts_into_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYCLUSTER_CONFIG_DIR", str(tmp_path))
    manager = WindowsClusterManager()
    manager.save_cluster_config({"cluster_name": "production", "local_workers": 4}, "production")
    path = manager.create_cluster_startup_script(manager.load_cluster_config("production") or {})
    assert path.parent == tmp_path and path.exists()
    done = cli("startup-script", "production", "--target", "windows")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == tmp_path / "start_production.bat"
    missing = cli("startup-script", "nope")
    assert missing.returncode == 1 and "no saved cluster config named 'nope'" in missing.stderr
