"""WindowsClusterManager: the product documents' one object for platform care.

The name is the documents'; it works on Linux and macOS too, choosing each
platform's config folder, script language, service manager and firewall.

>>> from pycluster import WindowsClusterManager
>>> manager = WindowsClusterManager()
>>> config = {"cluster_name": "production", "local_workers": 4}
>>> manager.save_cluster_config(config, "production")  # doctest: +SKIP
True
>>> manager.create_cluster_startup_script(manager.load_cluster_config("production"))  # doctest: +SKIP
PosixPath('/home/me/.config/pycluster/start_production.sh')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import PlatformError
from ..net.interfaces import get_network_interfaces
from ..platform import config_store
from ..platform.firewall import FirewallResult, install_firewall_rules
from ..platform.installer import plan_service_from_yaml
from ..platform.plan import Plan
from ..platform.scripts import create_cluster_startup_script
from ..platform.services import (
    ServiceKind,
    check_service_dependencies,
    create_windows_service_script,
    service_kind,
)
from ..platform.system import get_system_info

__all__ = ["WindowsClusterManager"]


class WindowsClusterManager:
    """Configs, startup scripts, services, firewall rules and system facts for this machine.

    ``config_dir`` defaults to the platform's folder (``%APPDATA%\\PyCluster`` on
    Windows), or ``PYCLUSTER_CONFIG_DIR``.
    """

    def __init__(self, config_dir: str | os.PathLike[str] | None = None) -> None:
        self._config_dir = Path(config_dir) if config_dir is not None else None

    @property
    def config_dir(self) -> Path:
        return self._config_dir or config_store.config_dir()

    @property
    def is_windows(self) -> bool:
        return os.name == "nt"

    def save_cluster_config(self, config: Mapping[str, Any], name: str = "default") -> bool:
        """Check and save ``config`` as ``NAME.json``; True (a bad config raises ConfigError)."""
        return config_store.save_cluster_config(config, name, self.config_dir)

    def load_cluster_config(self, name: str = "default") -> dict[str, Any] | None:
        """The saved config ``name``, or None when there is none."""
        return config_store.load_cluster_config(name, self.config_dir)

    def list_cluster_configs(self) -> list[str]:
        """Names of the saved configs."""
        return config_store.list_cluster_configs(self.config_dir)

    def delete_cluster_config(self, name: str) -> bool:
        """Remove a saved config; False when there was none."""
        return config_store.delete_cluster_config(name, self.config_dir)

    def create_cluster_startup_script(
        self, config: Mapping[str, Any], name: str | None = None, target: str | None = None
    ) -> Path:
        """Write ``start_NAME.bat`` (+ ``.ps1``) on Windows, ``start_NAME.sh`` elsewhere; its path."""
        return create_cluster_startup_script(config, name, self.config_dir, target=target)

    def create_windows_service_script(
        self,
        service_name: str,
        python_path: str | None = None,
        script_path: str | None = None,
        args: Sequence[str] | None = None,
    ) -> Path:
        """Write a service running ``python_path script_path args`` (a Windows service,
        a systemd unit or a launchd plist, for this platform); its path."""
        return create_windows_service_script(service_name, python_path, script_path, args, self.config_dir)

    def install_service(
        self,
        service_name: str,
        cluster_config: str | os.PathLike[str],
        dry_run: bool = False,
        kind: ServiceKind | str | None = None,
        system_wide: bool = False,
        python: str | None = None,
    ) -> Plan:
        """Install and start service ``service_name`` running ``pycluster head --config CLUSTER_CONFIG``
        (a ``pycluster.yaml`` path): a Windows service (pywin32, as Administrator), else a systemd
        unit or launchd agent. With ``dry_run`` nothing is written or run: the returned plan holds
        the file and the commands; it is true only when everything was done.
        A missing or bad YAML file or a bad service name raises :class:`~pycluster.errors.ConfigError`.
        """
        plan = plan_service_from_yaml(
            service_name, cluster_config, kind, self.config_dir, system_wide, python
        )
        if dry_run:
            return plan
        chosen = ServiceKind(kind) if kind else service_kind()
        if chosen is ServiceKind.WINDOWS and not self.is_windows:
            raise PlatformError(
                "a Windows service installs on Windows only; pass dry_run=True to see the plan"
            )
        check_service_dependencies(chosen)
        return plan.execute()

    def install_windows_firewall_rules(
        self, ports: Iterable[int | str] | Mapping[str, int], dry_run: bool | None = None, **options: Any
    ) -> FirewallResult:
        """Open ``ports`` (netsh, ufw or firewalld); a dry run unless elevated. True only when installed."""
        return install_firewall_rules(ports, dry_run=dry_run, **options)

    def get_network_interfaces(self) -> list[dict[str, Any]]:
        """This machine's interfaces: ``name``, ``ip``, ``type``, ``netmask``, ``broadcast``, ..."""
        return get_network_interfaces()

    def get_system_info(self) -> dict[str, Any]:
        """``platform``, ``cpu_count``, ``memory_total``, ``memory_available``, ``hostname``, ``gpus``, ..."""
        return get_system_info()
