"""Firewall rules that let workers and browsers reach a head.

``netsh advfirewall`` on Windows, ``ufw`` or ``firewalld`` on Linux. Unless the
process is elevated (root, Administrator), the default is a dry run: the exact
commands come back and nothing runs. The discovery port is UDP, the others TCP.

>>> result = install_firewall_rules([8786, 8787, 8788], tool="ufw", dry_run=True)
>>> print(result)
ufw allow 8786/tcp comment 'PyCluster Scheduler'
ufw allow 8787/tcp comment 'PyCluster Dashboard'
ufw allow 8788/udp comment 'PyCluster Discovery'
>>> bool(result)  # nothing was installed
False
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["FirewallResult", "firewall_commands", "install_firewall_rules", "is_elevated"]

TOOLS = ("netsh", "ufw", "firewalld")
DISCOVERY_PORT = 8788
RULE_PREFIX = "PyCluster"
# rule names go into netsh/ufw command lines: no quotes or shell characters
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
# well-known ports and the names their rules get (the documents' "PyCluster Scheduler", ...)
_ROLES = {8786: "Scheduler", 8787: "Dashboard", 8788: "Discovery", 8789: "Dask Dashboard"}
_KEY_ROLES = {
    "scheduler_port": "Scheduler",
    "dashboard_port": "Dashboard",
    "discovery_port": "Discovery",
    "dask_dashboard_port": "Dask Dashboard",
}


@dataclass
class FirewallResult:
    """What was (or would be) run. True only when rules were actually installed."""

    commands: list[str]
    tool: str | None
    dry_run: bool
    applied: bool = False
    reason: str = ""
    outputs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.applied

    def __str__(self) -> str:
        return "\n".join(self.commands) if self.commands else self.reason


@dataclass(frozen=True)
class _Rule:
    port: int
    protocol: str  # "tcp" or "udp"
    name: str


def is_elevated() -> bool:
    """Whether this process may change the firewall (Administrator on Windows, root elsewhere)."""
    if os.name == "nt":
        import ctypes

        try:
            return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            return False
    return os.geteuid() == 0


def default_tool() -> str | None:
    """The firewall tool of this machine: netsh on Windows, ufw or firewalld on Linux, else None."""
    if sys.platform.startswith("win"):
        return "netsh"
    if shutil.which("ufw"):
        return "ufw"
    if shutil.which("firewall-cmd"):
        return "firewalld"
    return None


def firewall_commands(
    ports: Iterable[int | str] | Mapping[str, int],
    tool: str,
    remote: str | None = None,
    discovery_port: int = DISCOVERY_PORT,
    rule_prefix: str = RULE_PREFIX,
) -> list[str]:
    """The exact commands that open ``ports`` with ``tool`` (only from ``remote``, a CIDR, if given).

    ``ports``: ints (the discovery port is UDP, others TCP), ``"8788/udp"`` strings,
    or a mapping such as :func:`~pycluster.net.get_recommended_ports` returns.
    Rules are named ``"<rule_prefix> Scheduler"``, ``"<rule_prefix> Dashboard"``, ...
    """
    if tool not in TOOLS:
        raise ConfigError(f"unknown firewall tool {tool!r}; use one of {', '.join(TOOLS)}")
    rules = _rules(ports, discovery_port, _checked_prefix(rule_prefix))
    source = _checked_remote(remote)
    commands = [_command(tool, rule, source) for rule in rules]
    if tool == "firewalld":
        commands.append("firewall-cmd --reload")  # --permanent rules apply after a reload
    return commands


def install_firewall_rules(
    ports: Iterable[int | str] | Mapping[str, int],
    dry_run: bool | None = None,
    tool: str | None = None,
    remote: str | None = None,
    discovery_port: int = DISCOVERY_PORT,
    rule_prefix: str = RULE_PREFIX,
) -> FirewallResult:
    """Open ``ports``; with ``dry_run`` (the default unless elevated) only return the commands."""
    chosen = tool or default_tool()
    dry = (not is_elevated()) if dry_run is None else dry_run
    if chosen is None:
        return FirewallResult([], None, dry, reason=_no_tool_reason())
    commands = firewall_commands(ports, chosen, remote, discovery_port, rule_prefix)
    result = FirewallResult(commands, chosen, dry)
    if dry:
        result.reason = "dry run: run these commands as root or Administrator to open the ports"
        return result
    return _apply(result)


def _apply(result: FirewallResult) -> FirewallResult:
    for command in result.commands:
        # Windows takes the command line as written (netsh parses name="..." itself)
        argv: str | list[str] = command if os.name == "nt" else shlex.split(command)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            result.reason = f"could not run {command!r}: {exc}"
            return result
        result.outputs.append((done.stdout + done.stderr).strip())
        if done.returncode != 0:
            result.reason = f"{command!r} failed with exit code {done.returncode}: {result.outputs[-1]}"
            return result
    result.applied = True
    result.reason = "rules installed"
    return result


def _no_tool_reason() -> str:
    if sys.platform == "darwin":
        return (
            "macOS's application firewall allows incoming connections per program, not per port: "
            "allow Python when macOS asks (System Settings > Network > Firewall)"
        )
    return (
        "no ufw or firewall-cmd found: open the ports in your firewall by hand (pass tool= to see commands)"
    )


def _rules(
    ports: Iterable[int | str] | Mapping[str, int], discovery_port: int, prefix: str = RULE_PREFIX
) -> list[_Rule]:
    if isinstance(ports, Mapping):
        items = [(port, _KEY_ROLES.get(key, str(key))) for key, port in ports.items()]
        rules = [_rule(port, role, discovery_port, prefix, udp=role == "Discovery") for port, role in items]
    else:
        rules = [_rule(port, None, discovery_port, prefix) for port in ports]
    if not rules:
        raise ConfigError("no ports given; pass for example [8786, 8787, 8788]")
    return rules


def _rule(
    port: int | str, role: str | None, discovery_port: int, prefix: str = RULE_PREFIX, udp: bool = False
) -> _Rule:
    text = str(port).strip().lower()
    number, _, protocol = text.partition("/")
    if not number.isdigit() or not 1 <= int(number) <= 65535 or protocol not in {"", "tcp", "udp"}:
        raise ConfigError(f"{port!r} is not a port; use a number from 1 to 65535, or '8788/udp'")
    value = int(number)
    protocol = protocol or ("udp" if udp or (role is None and value == discovery_port) else "tcp")
    label = role or _ROLES.get(value) or f"Port {value}"
    return _Rule(value, protocol, f"{prefix} {label}")


def check_rule_prefix(prefix: str) -> str:
    """``prefix`` if it can name firewall rules (and shortcuts), else :class:`ConfigError`."""
    return _checked_prefix(prefix)


def _checked_prefix(prefix: str) -> str:
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(
            f"{prefix!r} cannot name firewall rules; use letters, digits, spaces, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit), e.g. 'PyCluster'"
        )
    return prefix


def _checked_remote(remote: str | None) -> str | None:
    if remote is None:
        return None
    try:
        return str(ipaddress.ip_network(remote, strict=False))
    except ValueError:
        raise ConfigError(f"{remote!r} is not an address or network; use e.g. 192.168.1.0/24") from None


def _command(tool: str, rule: _Rule, source: str | None) -> str:
    if tool == "netsh":
        scope = f" remoteip={source}" if source else ""
        return (
            f'netsh advfirewall firewall add rule name="{rule.name}" dir=in action=allow '
            f"protocol={rule.protocol.upper()} localport={rule.port}{scope}"
        )
    if tool == "ufw":
        where = (
            f"from {source} to any port {rule.port} proto {rule.protocol}"
            if source
            else (f"{rule.port}/{rule.protocol}")
        )
        return f"ufw allow {where} comment {shlex.quote(rule.name)}"
    if source:
        family = "ipv6" if ":" in source else "ipv4"
        rich = (
            f'rule family="{family}" source address="{source}" '
            f'port port="{rule.port}" protocol="{rule.protocol}" accept'
        )
        return f"firewall-cmd --permanent --add-rich-rule={shlex.quote(rich)}"
    return f"firewall-cmd --permanent --add-port={rule.port}/{rule.protocol}"
