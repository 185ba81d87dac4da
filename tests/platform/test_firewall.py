"""Firewall commands are generated and checked, never run."""

from __future__ import annotations

import os

import pytest

from pycluster import ConfigError, WindowsClusterManager
from pycluster.platform.firewall import firewall_commands, install_firewall_rules, is_elevated
from tests.helpers import cli


def test_netsh_commands_are_the_documents_commands() -> None:
    rule = "netsh advfirewall firewall add rule"
    assert firewall_commands([8786, 8787, 8788], "netsh") == [
        f'{rule} name="PyCluster Scheduler" dir=in action=allow protocol=TCP localport=8786',
        f'{rule} name="PyCluster Dashboard" dir=in action=allow protocol=TCP localport=8787',
        f'{rule} name="PyCluster Discovery" dir=in action=allow protocol=UDP localport=8788',
    ]


def test_ufw_and_firewalld_commands() -> None:
    assert firewall_commands([8786, 8788], "ufw") == [
        "ufw allow 8786/tcp comment 'PyCluster Scheduler'",
        "ufw allow 8788/udp comment 'PyCluster Discovery'",
    ]
    assert firewall_commands([8786, "9000/udp"], "firewalld") == [
        "firewall-cmd --permanent --add-port=8786/tcp",
        "firewall-cmd --permanent --add-port=9000/udp",
        "firewall-cmd --reload",
    ]


def test_rules_can_be_limited_to_a_network() -> None:
    (netsh,) = firewall_commands([8786], "netsh", remote="192.168.1.0/24")
    assert netsh.endswith("localport=8786 remoteip=192.168.1.0/24")
    (ufw,) = firewall_commands([8786], "ufw", remote="192.168.1.7")
    assert ufw == "ufw allow from 192.168.1.7/32 to any port 8786 proto tcp comment 'PyCluster Scheduler'"
    rich, reload = firewall_commands([8788], "firewalld", remote="10.0.0.0/8")
    assert reload == "firewall-cmd --reload"
    assert rich == (
        'firewall-cmd --permanent --add-rich-rule=\'rule family="ipv4" source address="10.0.0.0/8" '
        'port port="8788" protocol="udp" accept\''
    )


def test_recommended_ports_mapping_names_each_rule() -> None:
    ports = {
        "scheduler_port": 9100,
        "dashboard_port": 9101,
        "discovery_port": 9102,
        "dask_dashboard_port": 9103,
    }
    commands = firewall_commands(ports, "ufw")
    assert commands == [
        "ufw allow 9100/tcp comment 'PyCluster Scheduler'",
        "ufw allow 9101/tcp comment 'PyCluster Dashboard'",
        "ufw allow 9102/udp comment 'PyCluster Discovery'",
        "ufw allow 9103/tcp comment 'PyCluster Dask Dashboard'",
    ]


def test_a_dry_run_returns_the_commands_and_is_not_success() -> None:
    result = WindowsClusterManager().install_windows_firewall_rules(
        [8786, 8787, 8788], dry_run=True, tool="netsh"
    )
    assert not result  # the documents' `if success:` must not claim rules were installed
    assert result.dry_run and not result.applied and result.outputs == []
    assert str(result).splitlines() == result.commands and len(result.commands) == 3
    assert "run these commands as root or Administrator" in result.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ports": [0]}, "is not a port"),
        ({"ports": ["8786/sctp"]}, "is not a port"),
        ({"ports": []}, "no ports given"),
        ({"ports": [8786], "remote": "everyone"}, "is not an address or network"),
        ({"ports": [8786], "tool": "iptables"}, "unknown firewall tool 'iptables'"),
    ],
)
def test_bad_input_is_a_config_error(kwargs: dict, message: str) -> None:
    kwargs.setdefault("tool", "ufw")
    with pytest.raises(ConfigError, match=message):
        install_firewall_rules(dry_run=True, **kwargs)


@pytest.mark.skipif(os.name == "nt", reason="compares with the POSIX effective user id")
def test_elevation_check_matches_this_process() -> None:
    assert is_elevated() is (os.geteuid() == 0)


def test_cli_prints_commands_without_running_them() -> None:
    done = cli("firewall", "--tool", "ufw", "8786", "8788")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "ufw allow 8786/tcp comment 'PyCluster Scheduler'",
        "ufw allow 8788/udp comment 'PyCluster Discovery'",
    ]
