"""System facts, interfaces and the public surface."""

from __future__ import annotations

import importlib.util
import socket

import psutil

import pycluster
from pycluster import NetworkDiscovery, WindowsClusterManager


def test_system_info_has_the_documents_keys() -> None:
    info = WindowsClusterManager().get_system_info()
    assert info["platform"] in {"Linux", "Windows", "Darwin"}
    assert info["cpu_count"] == psutil.cpu_count()
    assert info["memory_total"] >= info["memory_available"] > 0
    assert info["hostname"] == socket.gethostname()
    assert isinstance(info["gpus"], list)
    if importlib.util.find_spec("pynvml") is None:
        assert info["gpus"] == []  # no nvidia-ml-py here: an empty list, no error


def test_network_interfaces_have_the_documents_keys() -> None:
    rows = WindowsClusterManager().get_network_interfaces()
    assert rows and all({"name", "ip", "type"} <= set(r) for r in rows)


def test_both_managers_are_exported() -> None:
    assert {"NetworkDiscovery", "WindowsClusterManager"} <= set(pycluster.__all__)
    assert pycluster.NetworkDiscovery is NetworkDiscovery
    for name in pycluster.__all__:
        assert hasattr(pycluster, name), name
