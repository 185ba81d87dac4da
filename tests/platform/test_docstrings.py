"""The >>> examples in the platform modules' docstrings run (those not marked +SKIP)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pycluster.platform",
    "pycluster.platform.config_store",
    "pycluster.platform.firewall",
    "pycluster.platform.quoting",
    "pycluster.platform.scripts",
    "pycluster.platform.services",
    "pycluster.platform.system",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
