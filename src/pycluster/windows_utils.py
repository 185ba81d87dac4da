"""``pycluster.windows_utils``: the module path the product documents use for platform care.

The code lives in :mod:`pycluster.platform`; this module gives it the documents' names:
``configure_firewall(ports, cluster_name)`` and ``WindowsClusterManager().install_service(service_name,
cluster_config)`` (a ``pycluster.yaml`` path; ``dry_run=True`` returns the plan and changes nothing).

>>> from pycluster.windows_utils import configure_firewall
>>> print(configure_firewall(ports=[8786, 8787], cluster_name="PyCluster", tool="ufw", dry_run=True))
ufw allow 8786/tcp comment 'PyCluster Scheduler'
ufw allow 8787/tcp comment 'PyCluster Dashboard'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .compat import WindowsClusterManager
from .platform.firewall import RULE_PREFIX, FirewallResult, install_firewall_rules

__all__ = ["FirewallResult", "WindowsClusterManager", "configure_firewall"]


def configure_firewall(
    ports: Iterable[int | str] | Mapping[str, int] = (8786, 8787, 8788),
    cluster_name: str = RULE_PREFIX,
    dry_run: bool | None = None,
    tool: str | None = None,
    remote: str | None = None,
) -> FirewallResult:
    """Open ``ports`` in this machine's firewall (netsh, ufw or firewalld), rules named after
    ``cluster_name`` (``"PyCluster Scheduler"``, ...). A dry run unless the process is elevated:
    the result then holds the exact commands; it is true only when the rules were installed.
    """
    return install_firewall_rules(ports, dry_run=dry_run, tool=tool, remote=remote, rule_prefix=cluster_name)
