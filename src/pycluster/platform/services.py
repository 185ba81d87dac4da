"""Run a pycluster command as a service: Windows service, systemd unit or launchd agent.

``create_service`` writes the definition file into the config folder and
returns what installing, removing and querying it takes (exact commands);
``install_service`` and ``uninstall_service`` run those commands (or, with
``dry_run=True``, only return them). Windows services need pywin32 to install
(``pip install "pycluster[windows]"``): a plain ``python.exe`` registered with
``sc.exe`` does not answer the Service Control Manager, which kills it after 30 s
(error 1053). Removing and querying use ``sc.exe`` and need nothing extra.

>>> service = create_service("pycluster-prod", head_command({"cluster_name": "prod"}))  # doctest: +SKIP
>>> install_service(service, dry_run=True)  # doctest: +SKIP
[['install', '-m', '644', ...], ['systemctl', '--user', 'daemon-reload'], ...]
"""

from __future__ import annotations

import importlib.util
import os
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from .. import __version__
from ..errors import MissingDependencyError, ServiceError
from .config_store import check_name, config_dir
from .quoting import check_argument, systemd_quote

__all__ = [
    "ServiceDefinition",
    "ServiceKind",
    "create_service",
    "create_windows_service_script",
    "install_service",
    "plan_service",
    "service_definition",
    "service_kind",
    "service_status",
    "uninstall_service",
]


class ServiceKind(str, Enum):
    WINDOWS = "windows"
    SYSTEMD = "systemd"
    LAUNCHD = "launchd"


@dataclass(frozen=True)
class ServiceDefinition:
    """A service's generated file and the exact commands that install, remove and query it."""

    name: str
    kind: ServiceKind
    path: PurePath  # a PureWindowsPath when a Windows service is planned on another system
    installed_path: Path | None
    install_commands: list[list[str]]
    uninstall_commands: list[list[str]]
    status_command: list[str]


def service_kind(platform: str | None = None) -> ServiceKind:
    """The service manager of ``platform`` (a ``sys.platform`` value; default: this machine's)."""
    name = platform or sys.platform
    if name.startswith("win"):
        return ServiceKind.WINDOWS
    return ServiceKind.LAUNCHD if name == "darwin" else ServiceKind.SYSTEMD


def service_definition(
    name: str,
    kind: ServiceKind | str | None = None,
    directory: PurePath | None = None,
    system_wide: bool = False,
    python: str | None = None,
) -> ServiceDefinition:
    """Where service ``name``'s files go and its commands (nothing is written)."""
    check_name(name, "service name")
    chosen = ServiceKind(kind) if kind else service_kind()
    folder = (directory or config_dir()) / "services"
    build = {
        ServiceKind.SYSTEMD: _systemd_definition,
        ServiceKind.LAUNCHD: _launchd_definition,
        ServiceKind.WINDOWS: _windows_definition,
    }[chosen]
    return build(name, folder, system_wide, python or sys.executable)


def create_service(
    name: str,
    command: Sequence[str],
    kind: ServiceKind | str | None = None,
    directory: PurePath | None = None,
    system_wide: bool = False,
    description: str | None = None,
) -> ServiceDefinition:
    """Write the definition of service ``name`` that runs ``command`` (argv); its definition.

    ``system_wide`` makes a system service (root/Administrator); otherwise a user
    service where the platform has them (systemd ``--user``, a launchd agent).
    """
    definition, text = plan_service(name, command, kind, directory, system_wide, description)
    path = Path(definition.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return definition


def plan_service(
    name: str,
    command: Sequence[str],
    kind: ServiceKind | str | None = None,
    directory: PurePath | None = None,
    system_wide: bool = False,
    description: str | None = None,
) -> tuple[ServiceDefinition, bytes]:
    """Service ``name``'s definition and the bytes of its file, written nowhere (for dry runs)."""
    chosen = ServiceKind(kind) if kind else service_kind()
    argv = [check_argument(str(a), windows=chosen is ServiceKind.WINDOWS) for a in command]
    if not argv:
        raise ValueError("a service needs a command to run")
    definition = service_definition(name, chosen, directory, system_wide, python=argv[0])
    return definition, _render(definition, argv, description or f"pycluster service {name}")


def install_service(definition: ServiceDefinition, dry_run: bool = False) -> list[list[str]]:
    """Run the install commands (with ``dry_run``, only return them); the commands."""
    # a dry run too: it should show what a real install would stop at
    check_service_dependencies(definition.kind)
    if not dry_run:
        for argv in definition.install_commands:
            _run(argv, definition)
    return definition.install_commands


def check_service_dependencies(kind: ServiceKind) -> None:
    """:class:`MissingDependencyError` when installing a ``kind`` service needs a missing package."""
    if kind is ServiceKind.WINDOWS and importlib.util.find_spec("win32serviceutil") is None:
        raise MissingDependencyError("pywin32", "windows", "Installing a Windows service")


def uninstall_service(definition: ServiceDefinition, dry_run: bool = False) -> list[list[str]]:
    """Stop and remove the service (with ``dry_run``, only return the commands); the commands."""
    if not dry_run:
        first, *rest = definition.uninstall_commands
        _run(first, definition, check=False)  # stopping a service that is not running is fine
        for argv in rest:
            _run(argv, definition)
    return definition.uninstall_commands


def service_status(definition: ServiceDefinition) -> dict[str, Any]:
    """Ask the service manager; ``{"name", "kind", "command", "returncode", "output"}``."""
    result = _run(definition.status_command, definition, check=False)
    return {
        "name": definition.name,
        "kind": definition.kind.value,
        "command": definition.status_command,
        "returncode": result.returncode,
        "output": (result.stdout + result.stderr).strip(),
    }


def create_windows_service_script(
    service_name: str,
    python_path: str | None = None,
    script_path: str | None = None,
    args: Sequence[str] | None = None,
    directory: Path | None = None,
    kind: ServiceKind | str | None = None,
) -> Path:
    """The product documents' call: write a service that runs ``python_path script_path args``; its path.

    ``script_path`` None runs ``python -m pycluster`` (``args`` default ``["head"]``).
    On Windows this is a pywin32 service module; on Linux a systemd unit and on
    macOS a launchd plist (``kind`` chooses another).
    """
    python = python_path or sys.executable
    target = [script_path] if script_path else ["-m", "pycluster"]
    default_args = [] if script_path else ["head"]
    command = [python, *target, *(default_args if args is None else args)]
    return Path(create_service(service_name, command, kind=kind, directory=directory).path)


def _run(
    argv: list[str], definition: ServiceDefinition, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"cannot run {' '.join(argv)!r} for service {definition.name!r}: {exc}") from None
    if check and result.returncode != 0:
        hint = " (system services need root or Administrator)" if definition.installed_path else ""
        raise ServiceError(
            f"{' '.join(argv)!r} failed with exit code {result.returncode}{hint}: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result


# ---------------------------------------------------------------- per service manager
def _systemd_definition(name: str, folder: PurePath, system_wide: bool, python: str) -> ServiceDefinition:
    unit = f"{name}.service"
    if system_wide:
        target, systemctl = Path("/etc/systemd/system") / unit, ["systemctl"]
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        target, systemctl = base / "systemd" / "user" / unit, ["systemctl", "--user"]
    source = folder / unit
    return ServiceDefinition(
        name=name,
        kind=ServiceKind.SYSTEMD,
        path=source,
        installed_path=target,
        install_commands=[
            ["install", "-D", "-m", "644", str(source), str(target)],
            [*systemctl, "daemon-reload"],
            [*systemctl, "enable", "--now", unit],
        ],
        uninstall_commands=[
            [*systemctl, "disable", "--now", unit],
            ["rm", "-f", str(target)],
            [*systemctl, "daemon-reload"],
        ],
        status_command=[*systemctl, "status", "--no-pager", unit],
    )


def _launchd_definition(name: str, folder: PurePath, system_wide: bool, python: str) -> ServiceDefinition:
    label = f"org.pycluster.{name}"
    if system_wide:
        target, domain = Path("/Library/LaunchDaemons") / f"{label}.plist", "system"
    else:
        uid = os.getuid() if hasattr(os, "getuid") else 501
        target, domain = Path.home() / "Library" / "LaunchAgents" / f"{label}.plist", f"gui/{uid}"
    source = folder / f"{label}.plist"
    return ServiceDefinition(
        name=name,
        kind=ServiceKind.LAUNCHD,
        path=source,
        installed_path=target,
        install_commands=[["cp", str(source), str(target)], ["launchctl", "bootstrap", domain, str(target)]],
        uninstall_commands=[["launchctl", "bootout", f"{domain}/{label}"], ["rm", "-f", str(target)]],
        status_command=["launchctl", "print", f"{domain}/{label}"],
    )


def _windows_definition(name: str, folder: PurePath, system_wide: bool, python: str) -> ServiceDefinition:
    # Windows services are always machine-wide; pywin32 registers and starts them
    source = folder / f"{name}_service.py"
    return ServiceDefinition(
        name=name,
        kind=ServiceKind.WINDOWS,
        path=source,
        installed_path=None,
        install_commands=[
            [python, str(source), "--startup", "auto", "install"],
            [python, str(source), "start"],
        ],
        uninstall_commands=[["sc.exe", "stop", name], ["sc.exe", "delete", name]],
        status_command=["sc.exe", "query", name],
    )


def _render(definition: ServiceDefinition, argv: list[str], description: str) -> bytes:
    text = "".join(c if c.isalnum() or c in " ._'-" else "?" for c in description)
    if definition.kind is ServiceKind.SYSTEMD:
        return _systemd_unit(
            argv, text, system_wide=str(definition.installed_path).startswith("/etc/")
        ).encode()
    if definition.kind is ServiceKind.LAUNCHD:
        return _launchd_plist(definition, argv)
    return _windows_service_module(definition.name, argv, text).encode()


def _systemd_unit(argv: list[str], description: str, system_wide: bool) -> str:
    return f"""# Written by pycluster {__version__}.
[Unit]
Description={description}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={" ".join(systemd_quote(a) for a in argv)}
Environment=PYTHONUNBUFFERED=1
Restart=on-failure
RestartSec=5
# SIGTERM makes a head stop its local workers; what is left after 30 s is killed
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy={"multi-user.target" if system_wide else "default.target"}
"""


def _launchd_plist(definition: ServiceDefinition, argv: list[str]) -> bytes:
    logs = (
        Path("/Library/Logs")
        if definition.installed_path and str(definition.installed_path).startswith("/Library/")
        else Path.home() / "Library" / "Logs"
    )
    log = str(logs / f"pycluster-{definition.name}.log")
    return plistlib.dumps(
        {
            "Label": f"org.pycluster.{definition.name}",
            "ProgramArguments": argv,
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
            "StandardOutPath": log,
            "StandardErrorPath": log,
        }
    )


def _windows_service_module(name: str, argv: list[str], description: str) -> str:
    return f'''"""Windows service {name!r} (written by pycluster {__version__}).

Install (as Administrator):  python "{{this file}}" --startup auto install
Remove:                      sc.exe stop {name} && sc.exe delete {name}
"""

import signal
import subprocess
import sys

import servicemanager
import win32event
import win32service
import win32serviceutil

COMMAND = {argv!r}


class PyClusterService(win32serviceutil.ServiceFramework):
    _svc_name_ = {name!r}
    _svc_display_name_ = {("PyCluster " + name)!r}
    _svc_description_ = {description!r}

    def __init__(self, args):
        super().__init__(args)
        self.stop_event = win32event.CreateEvent(None, 0, 0, None)

    def SvcStop(self):
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
        win32event.SetEvent(self.stop_event)

    def SvcDoRun(self):
        servicemanager.LogInfoMsg(f"{{self._svc_name_}}: starting {{COMMAND}}")
        proc = subprocess.Popen(COMMAND, creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)
        while win32event.WaitForSingleObject(self.stop_event, 1000) == win32event.WAIT_TIMEOUT:
            if proc.poll() is not None:
                # the command ended by itself: stop, so the service's recovery options apply
                servicemanager.LogErrorMsg(f"{{self._svc_name_}}: exited with code {{proc.returncode}}")
                return
        try:
            proc.send_signal(signal.CTRL_BREAK_EVENT)  # the head stops its workers on Ctrl-Break
            proc.wait(30)
        except Exception:
            proc.kill()


if __name__ == "__main__":
    if len(sys.argv) == 1:
        servicemanager.Initialize()
        servicemanager.PrepareToHostSingle(PyClusterService)
        servicemanager.StartServiceCtrlDispatcher()
    else:
        win32serviceutil.HandleCommandLine(PyClusterService)
'''
