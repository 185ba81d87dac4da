"""LoRA adapters on one base model (peft), chosen per request and mixed in one batch.

A deployment lists its adapters by name (``ModelSpec.adapters``: name -> folder saved with
peft's ``save_pretrained``); every replica loads them on top of its one copy of the base
model, and a request names one as ``adapter`` (``model: "base:adapter"`` in ``/v1``). Rows of
different adapters, and base-model rows, share forward passes: peft routes each row through
its own adapter (``adapter_names``), so an adapter costs its few MB, not a model copy.

>>> AdapterSet().forward_options([None])
{}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InferenceRequestError
from .engines.base import require

__all__ = ["BASE", "AdapterSet", "check_adapter_name", "first_line"]

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_adapter_name(name: str) -> None:
    if not _NAME.match(name) or name == BASE:
        raise InferenceRequestError(
            f"adapters: {name!r} is not a usable adapter name (1-64 letters, digits, '_', '.', '-')"
        )


class AdapterSet:
    """The adapters loaded on one replica's model; ``model`` is the model to run (peft-wrapped
    once the first adapter is loaded)."""

    def __init__(self, model: Any = None, model_name: str = "the base model") -> None:
        self.model = model
        self.model_name = model_name
        self.paths: dict[str, str] = {}

    def load(self, name: str, path: str) -> None:
        """Load the adapter at ``path`` as ``name``; InferenceRequestError naming ``adapters``
        when it does not fit the base model (other layers, other sizes), the model unchanged."""
        check_adapter_name(name)
        if self.paths.get(name) == path:
            return
        if not (Path(path) / "adapter_config.json").is_file():
            raise InferenceRequestError(
                f"adapters.{name}: no peft adapter at {path} on this worker (no adapter_config.json)"
            )
        if name in self.paths:
            self.unload(name)
        peft = require("peft", "LoRA adapters", "llm")
        try:
            if not self.paths:
                wrapped = peft.PeftModel.from_pretrained(self.model, path, adapter_name=name)
                wrapped.eval()
                self.model = wrapped
            else:
                self.model.load_adapter(path, adapter_name=name)
        except Exception as exc:
            self._forget_broken(name)
            raise InferenceRequestError(
                f"adapters.{name}: the adapter at {path} does not match {self.model_name}: "
                f"{type(exc).__name__}: {first_line(exc)}"
            ) from None
        self.paths[name] = path

    def unload(self, name: str) -> None:
        if name not in self.paths:
            return
        del self.paths[name]
        self._forget_broken(name)

    def _forget_broken(self, name: str) -> None:
        """Take a (half-)loaded adapter out again; the last one out unwraps the base model."""
        config = getattr(self.model, "peft_config", None)
        if config is None:
            return
        if not self.paths:
            self.model = self.model.unload()  # the base model, its layers as they were
        elif name in config:
            self.model.delete_adapter(name)

    def check(self, name: str | None) -> None:
        if name is not None and name not in self.paths:
            known = ", ".join(sorted(self.paths)) or "none"
            raise InferenceRequestError(f"model: this deployment has no adapter {name!r} (it has: {known})")

    def forward_options(self, adapters: Sequence[str | None]) -> dict[str, Any]:
        """Keyword arguments for one forward pass over rows of these adapters (None: the base)."""
        if not self.paths:
            return {}
        return {"adapter_names": [name or BASE for name in adapters]}


def first_line(exc: BaseException) -> str:
    """The line of a (long) loading error that says what did not fit."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    telling = next((line for line in lines if "mismatch" in line or "not found" in line), None)
    return (telling or (lines[0] if lines else ""))[:300]
