"""The public surface: what the docs name is importable from pycluster, and __all__ is complete."""

from __future__ import annotations

import importlib
import pkgutil

import pycluster

# Names from DESIGN.md's public API that exist so far; each later issue adds its own.
DOCUMENTED = {
    "HeadNode",
    "WorkerNode",
    "ClusterManager",
    "PyClusterError",
    "Settings",
    "GPUMonitor",
    "DashboardManager",
}


def test_documented_names_are_exported() -> None:
    missing = DOCUMENTED - set(pycluster.__all__)
    assert not missing, f"documented names missing from pycluster.__all__: {missing}"
    for name in pycluster.__all__:
        assert hasattr(pycluster, name), name


def test_every_module_declares_all_and_package_reexports_errors() -> None:
    for info in pkgutil.walk_packages(pycluster.__path__, "pycluster."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        assert hasattr(module, "__all__") or info.ispkg or info.name.endswith("static"), info.name
    from pycluster import errors

    assert set(errors.__all__) <= set(pycluster.__all__)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), pycluster.PyClusterError)


def test_version() -> None:
    assert pycluster.__version__.count(".") == 2


def test_version_is_the_installed_metadata() -> None:
    from importlib.metadata import version

    assert pycluster.__version__ == version("pycluster")
