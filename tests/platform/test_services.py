"""Service definitions are generated and checked; nothing is ever installed on this machine."""

from __future__ import annotations

import ast
import importlib.util
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pycluster import ConfigError, MissingDependencyError, WindowsClusterManager
from pycluster.platform.scripts import head_command
from pycluster.platform.services import (
    ServiceKind,
    create_service,
    install_service,
    service_definition,
    service_kind,
    uninstall_service,
)
from tests.helpers import cli

CONFIG = {"cluster_name": "prod 100%", "host": "0.0.0.0", "local_workers": 2}


@pytest.fixture
def spaced_python(tmp_path: Path) -> str:
    """A real executable whose path has spaces (systemd-analyze checks ExecStart exists)."""
    folder = tmp_path / "Program Files" / "Python 3"
    folder.mkdir(parents=True)
    python = folder / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return str(python)


def test_systemd_unit_quotes_and_verifies(tmp_path: Path, spaced_python: str) -> None:
    command = head_command(CONFIG, python=spaced_python)
    service = create_service("pycluster-prod", command, kind="systemd", directory=tmp_path)
    text = service.path.read_text(encoding="utf-8")
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_start == (
        f'ExecStart="{spaced_python}" "-m" "pycluster" "head" "--cluster-name" "prod 100%%" '
        '"--host" "0.0.0.0" "--local-workers" "2"'
    )
    assert "WantedBy=default.target" in text and "KillMode=mixed" in text
    assert service.installed_path is not None
    assert service.installed_path.parts[-3:] == ("systemd", "user", "pycluster-prod.service")
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit was generated but not verified")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(service.path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_install_and_uninstall_are_dry_runs_here(tmp_path: Path, spaced_python: str) -> None:
    service = create_service(
        "pycluster-prod", [spaced_python, "-m", "pycluster", "head"], "systemd", tmp_path
    )
    install = install_service(service, dry_run=True)
    assert install == [
        ["install", "-D", "-m", "644", str(service.path), str(service.installed_path)],
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "pycluster-prod.service"],
    ]
    assert not service.installed_path.exists()  # type: ignore[union-attr]
    remove = uninstall_service(service, dry_run=True)
    assert remove[0] == ["systemctl", "--user", "disable", "--now", "pycluster-prod.service"]
    system = service_definition("pycluster-prod", "systemd", tmp_path, system_wide=True)
    assert system.installed_path == Path("/etc/systemd/system/pycluster-prod.service")
    assert system.install_commands[1] == ["systemctl", "daemon-reload"]


def test_launchd_plist_round_trips(tmp_path: Path) -> None:
    command = ["/Applications/My Python/bin/python3", "-m", "pycluster", "head", "--cluster-name", "a&b<c>"]
    service = create_service("pycluster-prod", command, kind=ServiceKind.LAUNCHD, directory=tmp_path)
    plist = plistlib.loads(service.path.read_bytes())
    assert plist["Label"] == "org.pycluster.pycluster-prod"
    assert plist["ProgramArguments"] == command  # an XML array: no quoting to get wrong
    assert plist["KeepAlive"] == {"SuccessfulExit": False} and plist["RunAtLoad"] is True
    assert service.install_commands[-1][:2] == ["launchctl", "bootstrap"]
    assert service.installed_path.name == "org.pycluster.pycluster-prod.plist"  # type: ignore[union-attr]


def test_windows_service_module_is_valid_python_and_needs_pywin32(tmp_path: Path) -> None:
    python = r"C:\Program Files\Python311\python.exe"
    path = WindowsClusterManager(tmp_path).create_windows_service_script(
        "pycluster-prod", python, None, ["head", "--cluster-name", "prod"]
    )
    # the documents' call writes this platform's kind: a systemd unit here, a pywin32 module on Windows
    expected = {
        ServiceKind.WINDOWS: "pycluster-prod_service.py",
        ServiceKind.SYSTEMD: "pycluster-prod.service",
    }
    assert path.name == expected.get(service_kind(), "org.pycluster.pycluster-prod.plist")
    service = create_service("pycluster-prod", [python, "-m", "pycluster", "head"], "windows", tmp_path)
    source = service.path.read_text(encoding="utf-8")
    tree = ast.parse(source)  # it compiles
    assert "class PyClusterService(win32serviceutil.ServiceFramework)" in source
    command = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "COMMAND")  # type: ignore[attr-defined]
    assert ast.literal_eval(command.value) == [python, "-m", "pycluster", "head"]
    assert service.uninstall_commands == [
        ["sc.exe", "stop", "pycluster-prod"],
        ["sc.exe", "delete", "pycluster-prod"],
    ]
    assert service.status_command == ["sc.exe", "query", "pycluster-prod"]
    if importlib.util.find_spec("win32serviceutil") is None:
        with pytest.raises(MissingDependencyError, match=r'pip install "pycluster\[windows\]"'):
            install_service(service, dry_run=True)


def test_bad_service_names_and_commands(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="service name 'my service' is not allowed"):
        create_service("my service", ["python"], "systemd", tmp_path)
    with pytest.raises(ConfigError, match="double quote"):
        create_service("ok", ["python", 'say "hi"'], "windows", tmp_path)


def test_cli_install_is_a_dry_run_and_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCLUSTER_CONFIG_DIR", str(tmp_path))
    WindowsClusterManager().save_cluster_config(
        {"cluster_name": "production", "local_workers": 4}, "production"
    )
    done = cli("service", "install", "--config", "production", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "service 'pycluster-production'" in done.stdout and "would run:" in done.stdout
    assert "enable --now pycluster-production.service" in done.stdout
    unit = (tmp_path / "services" / "pycluster-production.service").read_text(encoding="utf-8")
    assert '"--cluster-name" "production" "--local-workers" "4"' in unit
    worker = cli(
        "service",
        "install",
        "--name",
        "w1",
        "--dry-run",
        "--",
        "worker",
        "--scheduler",
        "tcp://10.0.0.5:8786",
    )
    assert worker.returncode == 0, worker.stderr
    assert (
        '"worker" "--scheduler" "tcp://10.0.0.5:8786"' in (tmp_path / "services" / "w1.service").read_text()
    )
    removed = cli("service", "uninstall", "w1", "--dry-run")
    assert removed.returncode == 0 and "systemctl --user disable --now w1.service" in removed.stdout
    missing = cli("service", "install", "--config", "nope", "--dry-run")
    assert missing.returncode == 1 and "no saved cluster config named 'nope'" in missing.stderr
