"""The Windows installer and services from a pycluster.yaml, through their dry runs (this is not Windows).

A dry run and a real install share one plan, so what these tests read is what Windows would get;
the plan's own execution is tested with harmless steps on this machine.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path, PureWindowsPath

import pytest

from pycluster import ConfigError, PlatformError, WindowsClusterManager
from pycluster.platform.installer import WindowsInstallOptions, plan_windows_install
from pycluster.platform.plan import Plan, Step
from pycluster.platform.shortcuts import WindowsFolders
from pycluster.windows_utils import configure_firewall
from tests.helpers import cli

WINDOWS_PYTHON = r"C:\Program Files\Python312\python.exe"
NETSH = "netsh advfirewall firewall add rule"


@pytest.fixture
def yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The documents' ``pycluster.yaml`` in the current folder, with a dashboard port of its own."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "pycluster.yaml"
    path.write_text(
        "cluster:\n  name: prod\n  scheduler_port: 8786\n  dashboard_port: 9787\n", encoding="utf-8"
    )
    return path


def _service_command(module_source: str) -> list[str]:
    tree = ast.parse(module_source)  # the generated module compiles
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "COMMAND")  # type: ignore[attr-defined]
    return list(ast.literal_eval(assign.value))


def test_documents_service_example_plans_a_head_from_the_yaml(yaml_file: Path, tmp_path: Path) -> None:
    manager = WindowsClusterManager(tmp_path / "config")
    # the documents' call as written, plus dry_run=True: a real install would start a service here
    plan = manager.install_service(service_name="PyCluster", cluster_config="pycluster.yaml", dry_run=True)
    assert not plan and not (tmp_path / "config").exists()  # nothing written, nothing installed
    unit_step = plan.steps[0]
    assert unit_step.path == tmp_path / "config" / "services" / "PyCluster.service"
    assert unit_step.content is not None
    exec_start = next(
        line for line in unit_step.content.decode().splitlines() if line.startswith("ExecStart=")
    )
    assert exec_start.endswith(f'"-m" "pycluster" "head" "--config" "{yaml_file}"')
    assert plan.commands[-1] == "systemctl --user enable --now PyCluster.service"

    windows = manager.install_service(
        "PyCluster", yaml_file, dry_run=True, kind="windows", python=WINDOWS_PYTHON
    )
    assert windows.steps[0].path is not None and windows.steps[0].path.name == "PyCluster_service.py"
    assert windows.steps[0].content is not None
    assert _service_command(windows.steps[0].content.decode()) == [
        WINDOWS_PYTHON,
        "-m",
        "pycluster",
        "head",
        "--config",
        str(yaml_file),
    ]
    assert windows.commands[0].startswith(f'"{WINDOWS_PYTHON}" ') and windows.commands[0].endswith(
        "--startup auto install"
    )


def test_service_refuses_bad_input(yaml_file: Path, tmp_path: Path) -> None:
    manager = WindowsClusterManager(tmp_path)
    with pytest.raises(ConfigError, match=r"missing\.yaml does not exist"):
        manager.install_service("PyCluster", "missing.yaml", dry_run=True)
    with pytest.raises(ConfigError, match="service name 'Py Cluster' is not allowed"):
        manager.install_service("Py Cluster", yaml_file, dry_run=True)
    with pytest.raises(ConfigError, match=r"path of a pycluster\.yaml"):
        manager.install_service("PyCluster", {"cluster_name": "prod"}, dry_run=True)  # type: ignore[arg-type]
    if sys.platform != "win32":
        with pytest.raises(PlatformError, match="Windows only"):
            manager.install_service("PyCluster", "pycluster.yaml", kind="windows")
    yaml_file.write_text("cluster:\n  dashbord_port: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting cluster\.dashbord_port"):
        manager.install_service("PyCluster", yaml_file, dry_run=True)


def test_documents_firewall_example_names_every_rule() -> None:
    # the documents' call, with the dry run and tool it would get on a Windows machine without Administrator
    result = configure_firewall(
        ports=[8786, 8787, 5000], cluster_name="PyCluster", dry_run=True, tool="netsh"
    )
    assert result.commands == [
        f'{NETSH} name="PyCluster Scheduler" dir=in action=allow protocol=TCP localport=8786',
        f'{NETSH} name="PyCluster Dashboard" dir=in action=allow protocol=TCP localport=8787',
        f'{NETSH} name="PyCluster Port 5000" dir=in action=allow protocol=TCP localport=5000',
    ]
    assert not result
    with pytest.raises(ConfigError, match="cannot name firewall rules"):
        configure_firewall(ports=[8786], cluster_name='x" & calc', dry_run=True, tool="netsh")


def test_installer_plan_opens_the_configs_ports_and_quotes_paths_with_spaces(yaml_file: Path) -> None:
    folders = WindowsFolders.from_environment(
        {"APPDATA": r"C:\Users\Ann\AppData\Roaming", "USERPROFILE": r"C:\Users\Ann"}
    )
    options = WindowsInstallOptions(config=yaml_file, service=True, python=WINDOWS_PYTHON, folders=folders)
    plan = plan_windows_install(options)
    assert [c for c in plan.commands if c.startswith("netsh")] == [
        f'{NETSH} name="PyCluster Scheduler" dir=in action=allow protocol=TCP localport=8786',
        f'{NETSH} name="PyCluster Dashboard" dir=in action=allow protocol=TCP localport=9787',
        f'{NETSH} name="PyCluster Discovery" dir=in action=allow protocol=UDP localport=8788',
    ]
    files = {str(s.path): s.content for s in plan.steps if s.path is not None}
    menu = r"C:\Users\Ann\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\PyCluster"
    assert (
        files[rf"{menu}\PyCluster Dashboard.url"] == b"[InternetShortcut]\r\nURL=http://localhost:9787/\r\n"
    )
    assert r"C:\Users\Ann\Desktop\PyCluster Dashboard.url" in files
    script = files[r"C:\Users\Ann\AppData\Roaming\PyCluster\install\create_shortcuts.ps1"]
    assert script is not None and script.startswith(b"\xef\xbb\xbf")
    text = script.decode("utf-8-sig")
    for link in (
        rf"{menu}\PyCluster Head.lnk",
        r"C:\Users\Ann\Desktop\PyCluster Head.lnk",
        rf"{menu}\PyCluster Status.lnk",
    ):
        assert f"$link = $shell.CreateShortcut('{link}')" in text
    # cmd.exe /s drops the outer quotes only: the python path keeps its own
    head_args = f'/s /k ""{WINDOWS_PYTHON}" -m pycluster head --config {yaml_file}"'
    assert f"$link.Arguments = '{head_args}'" in text
    assert plan.commands[3] == (
        "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "
        r"C:\Users\Ann\AppData\Roaming\PyCluster\install\create_shortcuts.ps1"
    )
    service = files[r"C:\Users\Ann\AppData\Roaming\PyCluster\services\PyCluster_service.py"]
    assert service is not None
    assert _service_command(service.decode()) == [
        WINDOWS_PYTHON,
        "-m",
        "pycluster",
        "head",
        "--config",
        str(yaml_file),
    ]
    assert plan.commands[-1].endswith(r"PyCluster\services\PyCluster_service.py start")


def test_installer_refuses_what_cmd_exe_would_change(yaml_file: Path) -> None:
    folders = WindowsFolders.from_environment({})
    with pytest.raises(ConfigError, match=r"cmd\.exe would expand"):
        plan_windows_install(WindowsInstallOptions(python=r"C:\100%\python.exe", folders=folders))
    with pytest.raises(ConfigError, match="cannot name firewall rules"):
        plan_windows_install(WindowsInstallOptions(cluster_name=r"..\..\x", firewall=False, folders=folders))
    with pytest.raises(ConfigError, match="nothing to install"):
        plan_windows_install(WindowsInstallOptions(shortcuts=False, firewall=False, folders=folders))


def test_plan_execute_does_the_steps_in_order_and_stops_at_a_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    ok = Plan(
        [
            Step("write a", path=target, content=b"one"),
            Step("read a", command=[sys.executable, "-c", f"print(open({str(target)!r}).read())"]),
        ],
        windows=False,
    )
    assert ok.execute() and ok.outputs == [f"wrote {target}", "one"]
    failing = Plan(
        [
            Step("fail", command=[sys.executable, "-c", "raise SystemExit(3)"]),
            Step("never", path=tmp_path / "b", content=b""),
        ],
        windows=False,
    )
    with pytest.raises(PlatformError, match="exit code 3"):
        failing.execute()
    assert not failing and not (tmp_path / "b").exists()


def test_cli_dry_run_shows_the_plan_and_writes_nothing(yaml_file: Path, tmp_path: Path) -> None:
    env_dirs = {"APPDATA": str(tmp_path / "appdata"), "USERPROFILE": str(tmp_path / "home")}
    done = cli(
        "install-windows", "--dry-run", "--json", "--config", "pycluster.yaml", "--service", "--port", "8786",
        env={**os.environ, **env_dirs},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dry_run"] is True and plan["applied"] is False
    commands = [s["command"] for s in plan["steps"] if s["command"]]
    assert [c for c in commands if isinstance(c, str) and c.startswith("netsh")] == [
        f'{NETSH} name="PyCluster Scheduler" dir=in action=allow protocol=TCP localport=8786'
    ]
    paths = [PureWindowsPath(s["path"]).name for s in plan["steps"] if s["path"]]
    assert paths == [
        "create_shortcuts.ps1",
        "PyCluster Dashboard.url",
        "PyCluster Dashboard.url",
        "PyCluster_service.py",
    ]
    assert not (tmp_path / "appdata").exists() and not (tmp_path / "home").exists()
    text = cli("install-windows", "--dry-run", "--no-shortcuts")
    assert text.returncode == 0 and text.stdout.startswith("# dry run: nothing was written or run")


def test_cli_usage_errors_exit_2(yaml_file: Path) -> None:
    missing = cli("install-windows", "--dry-run", "--config", "missing.yaml")
    assert missing.returncode == 2 and "missing.yaml does not exist" in missing.stderr
    bad_name = cli("install-windows", "--dry-run", "--service", "--service-name", "CON")
    assert bad_name.returncode == 2 and "service name 'CON' is not allowed" in bad_name.stderr
    if sys.platform != "win32":
        real = cli("install-windows")
        assert real.returncode == 2 and "add --dry-run" in real.stderr
