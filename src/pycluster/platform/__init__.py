"""Platform care: config folder, startup scripts, services, firewall rules, system facts.

Windows first (``%APPDATA%\\PyCluster``, ``.bat`` scripts, Windows services,
``netsh``), with the Linux and macOS equivalents (XDG folder, shell scripts,
systemd and launchd, ufw and firewalld).
The product documents' facade over all of this, ``WindowsClusterManager``, lives in
:mod:`pycluster.compat`.

>>> from pycluster.platform import install_firewall_rules
>>> install_firewall_rules([8786], tool="ufw", dry_run=True).commands
["ufw allow 8786/tcp comment 'PyCluster Scheduler'"]
"""

from __future__ import annotations

from .config_store import (
    config_dir,
    delete_cluster_config,
    list_cluster_configs,
    load_cluster_config,
    save_cluster_config,
)
from .firewall import FirewallResult, firewall_commands, install_firewall_rules
from .scripts import create_cluster_startup_script
from .services import (
    ServiceDefinition,
    ServiceKind,
    create_service,
    create_windows_service_script,
    install_service,
    service_status,
    uninstall_service,
)
from .system import get_system_info

__all__ = [
    "FirewallResult",
    "ServiceDefinition",
    "ServiceKind",
    "config_dir",
    "create_cluster_startup_script",
    "create_service",
    "create_windows_service_script",
    "delete_cluster_config",
    "firewall_commands",
    "get_system_info",
    "install_firewall_rules",
    "install_service",
    "list_cluster_configs",
    "load_cluster_config",
    "save_cluster_config",
    "service_status",
    "uninstall_service",
]
