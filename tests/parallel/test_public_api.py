"""The names the Distributed Computing document uses are public, and every module says what it exports."""

from __future__ import annotations

import importlib
import pkgutil

import pycluster
import pycluster.parallel

DOCUMENT_NAMES = {
    "BackendType",
    "DistributedCoordinator",
    "DistributedGeneticOptimizer",
    "ParameterRange",
    "get_backend",
    "set_backend",
    "TaskError",
    "SerializationError",
}


def test_document_names_are_exported_from_pycluster() -> None:
    assert set(pycluster.__all__) >= DOCUMENT_NAMES
    for name in pycluster.__all__:
        assert hasattr(pycluster, name), name


def test_every_parallel_module_declares_all() -> None:
    for module in pkgutil.walk_packages(pycluster.parallel.__path__, "pycluster.parallel."):
        loaded = importlib.import_module(module.name)
        assert isinstance(getattr(loaded, "__all__", None), list), module.name
        for name in loaded.__all__:
            assert hasattr(loaded, name), f"{module.name}.{name}"
