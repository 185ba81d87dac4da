"""Deltas between two dashboard snapshots, so the live stream sends what changed, not everything.

A delta is a JSON merge patch (RFC 7386) with two additions, because snapshots hold ``null``
values and long lists whose items change one field at a time:

- an object's keys that are gone are listed under ``"$del"`` (``null`` stays a value);
- a list of objects that all carry one identity key (``job_id``, ``address``, ``id``) is
  patched by identity, so a new job at the top does not resend the 99 below it:
  ``{"$key": "job_id", "$order": [ids, only when the order changed], "$items": {id: <patch or whole>}}``;
- another list that was a list before is patched item by item: ``{"$len": n, "3": <patch>}``
  (items at or past the old length come whole; ``{"$set": v}`` replaces one). Other values are sent whole.

The browser applies it with ``applyPatch`` in ``static/state.js``. Values are compared as
Python compares them: a ``1`` that became ``True`` deep inside an unchanged-looking object is
not sent (the snapshot has no field that does that).

>>> diff({"a": 1, "w": [{"cpu": 5, "n": "x"}]}, {"a": 1, "w": [{"cpu": 7, "n": "x"}]})
{'w': {'$len': 1, '0': {'cpu': 7}}}
>>> diff({"j": [{"job_id": "a", "p": 5}]}, {"j": [{"job_id": "b"}, {"job_id": "a", "p": 9}]})
{'j': {'$key': 'job_id', '$items': {'b': {'$set': {'job_id': 'b'}}, 'a': {'p': 9}}, '$order': ['b', 'a']}}
>>> apply({"a": 1, "b": None}, diff({"a": 1, "b": None}, {"b": 2}))
{'b': 2}
"""

from __future__ import annotations

from typing import Any

__all__ = ["NO_CHANGE", "apply", "diff"]

NO_CHANGE: dict[str, Any] = {}
DELETE = "$del"
LENGTH = "$len"
IDENTITY_KEYS = ("job_id", "address", "id")  # what names an item of a list the dashboard shows


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The patch that turns ``old`` into ``new`` (an empty dict when they are equal)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value or type(old[key]) is not type(value):  # 1 == True, not in JSON
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


def _identity(items: list[Any]) -> str | None:
    """The key every item (a dict) has, with no two items alike; None when there is none."""
    if not items:
        return None
    return next((key for key in IDENTITY_KEYS if _names_items(items, key)), None)


def _names_items(items: list[Any], key: str) -> bool:
    if not all(isinstance(i, dict) and isinstance(i.get(key), (str, int)) for i in items):
        return False
    return len({str(i[key]) for i in items}) == len(items)


def _keyed_patch(key: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    before = {str(i[key]): i for i in old}
    order = [str(i[key]) for i in new]
    items: dict[str, Any] = {}
    for ident, item in zip(order, new):
        was = before.get(ident)
        if was is None:
            items[ident] = {"$set": item}
        elif was != item:
            items[ident] = diff(was, item)
    patch: dict[str, Any] = {"$key": key, "$items": items}
    if order != list(before):
        patch["$order"] = order
    return patch


def _list_patch(old: list[Any], new: list[Any]) -> dict[str, Any]:
    key = _identity(old)
    if key is not None and _names_items(new, key):
        return _keyed_patch(key, old, new)
    patch: dict[str, Any] = {LENGTH: len(new)}
    for i, value in enumerate(new):
        if i >= len(old):
            patch[str(i)] = value
        elif old[i] != value or type(old[i]) is not type(value):
            # an object is patched; anything else comes whole, wrapped (it could look like a patch)
            both = isinstance(old[i], dict) and isinstance(value, dict)
            patch[str(i)] = diff(old[i], value) if both else {"$set": value}
    return patch


def apply(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` (a copy where they differ); what the browser does, in Python."""
    if isinstance(patch, dict) and isinstance(target, list) and "$key" in patch:
        return _apply_keyed(target, patch)
    if isinstance(patch, dict) and isinstance(target, list) and LENGTH in patch:
        return _apply_indexed(target, patch)
    if isinstance(patch, dict) and isinstance(target, dict):
        merged = {k: v for k, v in target.items() if k not in patch.get(DELETE, ())}
        for key, value in patch.items():
            if key != DELETE:
                merged[key] = apply(merged[key], value) if key in merged else value
        return merged
    return patch


def _apply_keyed(target: list[Any], patch: dict[str, Any]) -> list[Any]:
    key = patch["$key"]
    before = {str(i[key]): i for i in target}
    result = []
    for ident in patch.get("$order", list(before)):
        change = patch["$items"].get(ident)
        if change is None:
            result.append(before[ident])
        elif "$set" in change:
            result.append(change["$set"])
        else:
            result.append(apply(before[ident], change))
    return result


def _apply_indexed(target: list[Any], patch: dict[str, Any]) -> list[Any]:
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
