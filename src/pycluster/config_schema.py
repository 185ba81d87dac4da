"""The JSON schema of pycluster.yaml, drawn from the settings dataclasses (:mod:`pycluster.config`).

Editors complete and check the file with it (the YAML language server: a first line
``# yaml-language-server: $schema=./pycluster.schema.json``). ``pycluster config schema``
prints it; docs/pycluster.schema.json is the copy in the repository, checked by a test to
be current.

>>> sections = json_schema()["properties"]
>>> list(sections)
['cluster', 'jobs', 'data', 'gpu', 'llm', 'monitoring']
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from .config import SettingKey, setting_keys
from .units import parse_memory_limit, parse_seconds

__all__ = ["json_schema", "schema_text"]

_SECTION_DOCS = {
    "cluster": "The head node: names, ports, local workers, tokens and keys.",
    "jobs": "The job queue.",
    "data": "Datasets: where the head may read them from.",
    "gpu": "GPU memory for deployments and GPU alerts.",
    "llm": "LLM serving.",
    "monitoring": "Sampling intervals, history and alert thresholds.",
}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
# parsers that also take text with a unit: 30s, 2 days, 4GiB, auto
_TEXT_TOO = (parse_seconds, parse_memory_limit)


def json_schema() -> dict[str, Any]:
    """The schema as a JSON-ready dict (draft 2020-12); unknown sections and keys are errors."""
    sections: dict[str, dict[str, Any]] = {}
    for setting in setting_keys():
        section = sections.setdefault(
            setting.section,
            {
                "type": "object",
                "description": _SECTION_DOCS.get(setting.section, ""),
                "additionalProperties": False,
                "properties": {},
            },
        )
        section["properties"][setting.key] = _property(setting)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pycluster.yaml",
        "description": "pycluster's settings: defaults < this file < PYCLUSTER_* environment < arguments.",
        "type": "object",
        "additionalProperties": False,
        "properties": sections,
    }


def schema_text() -> str:
    """The schema as docs/pycluster.schema.json holds it: two-space indent, a final newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _property(setting: SettingKey) -> dict[str, Any]:
    prop = _type_schema(setting.type)
    names = ", ".join(setting.env)
    prop["description"] = f"{setting.doc} Environment: {names}." if names else setting.doc
    optional = "null" in _types(prop)
    if setting.parse in _TEXT_TOO or optional:  # 30s, 4GiB; off/none for what null turns off
        prop["type"] = sorted({*_types(prop), "string"})
    if setting.default is not None and not setting.secret:
        prop["default"] = setting.default
    return prop


def _types(prop: dict[str, Any]) -> list[str]:
    kind = prop.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _type_schema(tp: Any) -> dict[str, Any]:
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        kinds = sorted({kind for arg in args for kind in _types(_type_schema(arg))})
        return {"type": kinds[0] if len(kinds) == 1 else kinds}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    raise TypeError(f"no JSON schema for the settings type {tp!r}")  # a new type: teach it here
