"""Deltas between two dashboard snapshots, so the live stream sends what changed, not everything.

A delta is a JSON merge patch (RFC 7386) with two additions, because snapshots hold ``null``
values and long lists whose items change one field at a time:

- an object's keys that are gone are listed under ``"$del"`` (``null`` stays a value);
- a list that was a list before is patched item by item: ``{"$len": n, "3": <patch>}``
  (items at or past the old length come whole). Other values are sent whole.

The browser applies it with ``applyPatch`` in ``static/state.js``.

>>> diff({"a": 1, "w": [{"cpu": 5, "n": "x"}]}, {"a": 1, "w": [{"cpu": 7, "n": "x"}]})
{'w': {'$len': 1, '0': {'cpu': 7}}}
>>> apply({"a": 1, "b": None}, diff({"a": 1, "b": None}, {"b": 2}))
{'b': 2}
"""

from __future__ import annotations

from typing import Any

__all__ = ["NO_CHANGE", "apply", "diff"]

NO_CHANGE: dict[str, Any] = {}
DELETE = "$del"
LENGTH = "$len"


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The patch that turns ``old`` into ``new`` (an empty dict when they are equal)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = _value_patch(old[key], value)
    gone = [key for key in old if key not in new]
    if gone:
        patch[DELETE] = gone
    return patch


def _value_patch(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return diff(old, new)
    if isinstance(old, list) and isinstance(new, list):
        return _list_patch(old, new)
    return new


def _list_patch(old: list[Any], new: list[Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {LENGTH: len(new)}
    for i, value in enumerate(new):
        if i >= len(old):
            patch[str(i)] = value
        elif old[i] != value:
            item = _value_patch(old[i], value)
            # a whole dict would be read as a patch of the old item: wrap what is not one
            patch[str(i)] = item if isinstance(old[i], dict) and isinstance(value, dict) else {"$set": item}
    return patch


def apply(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` (a copy where they differ); what the browser does, in Python."""
    if isinstance(patch, dict) and isinstance(target, list) and LENGTH in patch:
        items = list(target[: patch[LENGTH]])
        for key, value in patch.items():
            if key == LENGTH:
                continue
            i = int(key)
            if i >= len(items):
                items.append(value)
            elif isinstance(value, dict) and "$set" in value:
                items[i] = value["$set"]
            else:
                items[i] = apply(items[i], value)
        return items
    if isinstance(patch, dict) and isinstance(target, dict):
        result = {k: v for k, v in target.items() if k not in patch.get(DELETE, ())}
        for key, value in patch.items():
            if key != DELETE:
                result[key] = apply(result[key], value) if key in result else value
        return result
    return patch
