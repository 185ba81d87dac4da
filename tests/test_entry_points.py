"""The product documents' entry points: ``python -m pycluster[.cli]`` and their module paths."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import pycluster
from pycluster import ConfigError, NetworkDiscovery, WindowsClusterManager


def _python_m(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("module", ["pycluster", "pycluster.cli"])
def test_python_m_runs_the_cli(module: str) -> None:
    version = _python_m(module, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"pycluster, version {pycluster.__version__}"
    usage = _python_m(module, "--help")
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("Usage: pycluster ")
    assert "head" in usage.stdout and "worker" in usage.stdout
    unknown = _python_m(module, "no-such-command")
    assert unknown.returncode == 2
    assert "No such command 'no-such-command'" in unknown.stderr
    assert "RuntimeWarning" not in version.stderr + usage.stderr + unknown.stderr


def test_documents_module_paths_expose_the_documents_names() -> None:
    windows_utils = importlib.import_module("pycluster.windows_utils")
    network_utils = importlib.import_module("pycluster.network_utils")
    assert windows_utils.WindowsClusterManager is WindowsClusterManager
    assert callable(windows_utils.configure_firewall)
    assert network_utils.NetworkDiscovery is NetworkDiscovery
    for module in (windows_utils, network_utils):
        assert all(hasattr(module, name) for name in module.__all__), module.__name__


def test_configure_firewall_names_rules_after_the_cluster() -> None:
    from pycluster.windows_utils import configure_firewall

    result = configure_firewall(ports=[8786, 8787, 5000], cluster_name="Lab 2", tool="netsh", dry_run=True)
    assert not result and result.dry_run
    assert [command.split('"')[1] for command in result.commands] == [
        "Lab 2 Scheduler",
        "Lab 2 Dashboard",
        "Lab 2 Port 5000",
    ]
    default = configure_firewall(ports=[8786], tool="ufw", dry_run=True)
    assert default.commands == ["ufw allow 8786/tcp comment 'PyCluster Scheduler'"]


@pytest.mark.parametrize("name", ['a"b', "x; rm -rf /", "", " lead", "é" * 3, "n" * 65])
def test_configure_firewall_refuses_names_that_are_not_plain(name: str) -> None:
    from pycluster.windows_utils import configure_firewall

    with pytest.raises(ConfigError, match="cannot name firewall rules"):
        configure_firewall(ports=[8786], cluster_name=name, tool="netsh", dry_run=True)


@pytest.mark.parametrize(
    "name",
    [
        "pycluster.windows_utils",
        "pycluster.network_utils",
        "pycluster.cluster.results",
        "pycluster.cluster.loop",
    ],
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
