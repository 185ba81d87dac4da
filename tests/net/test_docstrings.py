"""The >>> examples in the net modules' docstrings run (those not marked +SKIP)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pycluster.net",
    "pycluster.net.discovery",
    "pycluster.net.interfaces",
    "pycluster.net.protocol",
    "pycluster.net.scan",
    "pycluster.net.connection",
    "pycluster.net.ports",
    "pycluster.net.responder",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
