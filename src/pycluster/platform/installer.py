r"""The Windows installer (``pycluster install-windows``) and services started from a ``pycluster.yaml``.

Both only *plan*: they return a :class:`~pycluster.platform.plan.Plan` of files and commands,
which a dry run prints and :meth:`Plan.execute` carries out, the same steps either way.
The installer does what the product documents' ``install_windows.py`` promises: Start-menu and
desktop shortcuts (a PowerShell script asks the Windows Shell for the ``.lnk`` files), Windows
Firewall rules (``netsh advfirewall``), and, when asked, a Windows service running the head
(a pywin32 service module).

>>> options = WindowsInstallOptions(python=r"C:\Python312\python.exe", firewall=True, shortcuts=False,
...                                 folders=WindowsFolders.from_environment({}))
>>> print(plan_windows_install(options).render())  # doctest: +NORMALIZE_WHITESPACE
# open TCP port 8786 in Windows Firewall (PyCluster Scheduler)
netsh advfirewall firewall add rule name="PyCluster Scheduler" dir=in action=allow protocol=TCP localport=8786
# open TCP port 8787 in Windows Firewall (PyCluster Dashboard)
netsh advfirewall firewall add rule name="PyCluster Dashboard" dir=in action=allow protocol=TCP localport=8787
# open UDP port 8788 in Windows Firewall (PyCluster Discovery)
netsh advfirewall firewall add rule name="PyCluster Discovery" dir=in action=allow protocol=UDP localport=8788
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from ..config import Settings
from ..errors import ConfigError, PlatformError
from .config_store import check_name
from .firewall import RULE_PREFIX, check_rule_prefix, firewall_commands
from .plan import Plan, Step
from .services import ServiceKind, check_service_dependencies, plan_service, service_kind
from .shortcuts import Shortcut, WindowsFolders, shortcut_script, url_shortcut

__all__ = [
    "WindowsInstallOptions",
    "install_windows",
    "plan_service_from_yaml",
    "plan_windows_install",
    "yaml_settings",
]

MIN_PYTHON = (3, 10)
_LABELS = {
    ServiceKind.WINDOWS: "Windows service module",
    ServiceKind.SYSTEMD: "systemd unit",
    ServiceKind.LAUNCHD: "launchd plist",
}
_NETSH_RULE = re.compile(r'name="(?P<name>[^"]+)" .*protocol=(?P<proto>\w+) localport=(?P<port>\d+)')


@dataclass(frozen=True)
class WindowsInstallOptions:
    """What ``pycluster install-windows`` sets up.

    ``config`` is a ``pycluster.yaml`` the head (shortcut and service) starts with; its ports are
    the ones opened unless ``ports`` says otherwise. ``cluster_name`` names the firewall rules,
    shortcuts and, without a config, the head's cluster.
    """

    cluster_name: str = RULE_PREFIX
    config: Path | None = None
    ports: Sequence[int | str] | None = None
    remote: str | None = None
    shortcuts: bool = True
    firewall: bool = True
    service: bool = False
    service_name: str = "PyCluster"
    python: str | None = None
    folders: WindowsFolders = field(default_factory=WindowsFolders.of_this_user)


def yaml_settings(path: str | os.PathLike[str]) -> tuple[Path, Settings]:
    """``path`` made absolute and the settings it holds; :class:`ConfigError` when it is missing or bad.

    Only the file counts (not this shell's ``PYCLUSTER_*`` variables): a service or a shortcut
    starts without them.
    """
    if isinstance(path, Mapping) or not isinstance(path, (str, os.PathLike)):
        raise ConfigError(
            f"cluster_config must be the path of a pycluster.yaml file, got {type(path).__name__}; "
            "to keep a config as a dict use save_cluster_config(config, name)"
        )
    file = Path(path).expanduser().absolute()
    if not file.is_file():
        raise ConfigError(f"cluster config file {file} does not exist; give the path of a pycluster.yaml")
    return file, Settings.load(file, env={})


def plan_service_from_yaml(
    service_name: str,
    cluster_config: str | os.PathLike[str],
    kind: ServiceKind | str | None = None,
    directory: PurePath | None = None,
    system_wide: bool = False,
    python: str | None = None,
) -> Plan:
    """Plan service ``service_name`` running ``pycluster head --config CLUSTER_CONFIG`` (for ``kind``,
    default this machine's service manager): write its file, then install and start it."""
    check_name(service_name, "service name")
    file, _ = yaml_settings(cluster_config)
    chosen = ServiceKind(kind) if kind else service_kind()
    command = [python or sys.executable, "-m", "pycluster", "head", "--config", str(file)]
    definition, content = plan_service(
        service_name, command, chosen, directory, system_wide, f"PyCluster head from {file.name}"
    )
    steps = [
        Step(f"write the {_LABELS[chosen]} for service {service_name}", path=definition.path, content=content)
    ]
    steps += [Step(f"install service {service_name}", command=argv) for argv in definition.install_commands]
    return Plan(steps, windows=chosen is ServiceKind.WINDOWS)


def plan_windows_install(options: WindowsInstallOptions) -> Plan:
    """The installer's steps for ``options`` (nothing is done): see the module's description."""
    if sys.version_info < MIN_PYTHON:
        raise PlatformError(f"pycluster needs Python {'.'.join(map(str, MIN_PYTHON))} or newer")
    check_name(options.service_name, "service name")
    check_rule_prefix(options.cluster_name)  # it names rules and shortcut files: no quotes, no slashes
    python = options.python or sys.executable
    config, settings = yaml_settings(options.config) if options.config else (None, Settings())
    head = ["-m", "pycluster", "head", *(["--config", str(config)] if config else [])]
    if config is None:
        head += ["--cluster-name", options.cluster_name]
    steps: list[Step] = []
    if options.firewall:
        steps += _firewall_steps(options, settings)
    if options.shortcuts:
        steps += _shortcut_steps(options, python, head, settings.cluster.dashboard_port)
    if options.service:
        folder = options.folders.config_dir
        definition, content = plan_service(
            options.service_name, [python, *head], ServiceKind.WINDOWS, folder, description="PyCluster head"
        )
        steps.append(
            Step(
                f"write the Windows service module for service {options.service_name}",
                path=definition.path,
                content=content,
            )
        )
        steps += [
            Step(f"install and start service {options.service_name} (pywin32)", command=argv)
            for argv in definition.install_commands
        ]
    if not steps:
        raise ConfigError("nothing to install: shortcuts, firewall rules and the service are all turned off")
    return Plan(steps, windows=True)


def install_windows(options: WindowsInstallOptions, dry_run: bool = False) -> Plan:
    """Plan, then (unless ``dry_run``) carry out the plan; only on Windows."""
    plan = plan_windows_install(options)
    if dry_run:
        return plan
    if os.name != "nt":
        raise PlatformError(
            "the Windows installer installs on Windows only; a dry run shows its plan anywhere"
        )
    if options.service:
        check_service_dependencies(ServiceKind.WINDOWS)
    return plan.execute()


def _firewall_steps(options: WindowsInstallOptions, settings: Settings) -> list[Step]:
    cluster = settings.cluster
    ports: Sequence[int | str] | Mapping[str, int]
    if options.ports:
        ports = options.ports
    else:
        named = {
            "scheduler_port": cluster.scheduler_port,
            "dashboard_port": cluster.dashboard_port,
            "discovery_port": cluster.discovery_port,
        }
        ports = {key: port for key, port in named.items() if port}  # port 0 (any free one) cannot be opened
    discovery = cluster.discovery_port or 8788
    steps = []
    for line in firewall_commands(ports, "netsh", options.remote, discovery, options.cluster_name):
        rule = _NETSH_RULE.search(line)
        what = f"{rule['proto']} port {rule['port']}" if rule else "a port"
        name = f" ({rule['name']})" if rule else ""
        steps.append(Step(f"open {what} in Windows Firewall{name}", command=line))
    return steps


def _shortcut_steps(
    options: WindowsInstallOptions, python: str, head: list[str], dashboard_port: int
) -> list[Step]:
    folders = options.folders
    menu = folders.programs / "PyCluster"
    label = options.cluster_name
    links = [
        Shortcut.console(menu / f"{label} Head.lnk", [python, *head], f"Start the {label} head"),
        Shortcut.console(folders.desktop / f"{label} Head.lnk", [python, *head], f"Start the {label} head"),
        Shortcut.console(
            menu / f"{label} Status.lnk",
            [python, "-m", "pycluster", "status"],
            "Show the cluster's workers and resources",
        ),
    ]
    script = folders.config_dir / "install" / "create_shortcuts.ps1"
    url = f"http://localhost:{dashboard_port or 8787}/"
    return [
        # PowerShell reads a BOM-less script as the ANSI code page: the BOM keeps non-ASCII paths intact
        Step(
            "write the script that creates the shortcuts",
            path=script,
            content=b"\xef\xbb\xbf" + shortcut_script(links).encode(),
        ),
        Step(
            "create the Start-menu and desktop shortcuts (Windows Shell)",
            command=[
                "powershell.exe",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-File",
                str(script),
            ],
        ),
        url_shortcut(menu / f"{label} Dashboard.url", url),
        url_shortcut(folders.desktop / f"{label} Dashboard.url", url),
    ]
