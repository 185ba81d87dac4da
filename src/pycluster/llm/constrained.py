"""Structured output: decoding constrained to JSON that matches a JSON Schema.

Built on lm-format-enforcer (the ``llm`` extra): pure Python, about 0.6 MB with its one new
dependency (interegular), and it works on any transformers tokenizer and torch version,
CPU included, where outlines and xgrammar bring compiled wheels and heavier dependency
trees. At each step the row's logits are masked to the tokens that keep its text a prefix of
a JSON value the schema accepts; end-of-text is allowed only once the value is complete.
Tokens that are only blanks are never allowed: compact JSON needs none, and a weak model
would otherwise spend its max_tokens on whitespace between fields. Every declared property
of an object is written (see ``_all_required``).

>>> check_schema({"type": "object", "properties": {"a": {"type": "integer"}}}, "response_format")
>>> check_schema({"type": "integr"}, "response_format")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pycluster.errors.InferenceRequestError: response_format is not a valid JSON Schema: ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import InferenceRequestError
from .engines.base import require

__all__ = ["JSON_OBJECT", "Constraints", "check_schema", "tool_call_schema"]

JSON_OBJECT: dict[str, Any] = {"type": "object"}  # response_format {"type": "json_object"}
_MAX_WHITESPACE = 2  # a model may not pad its JSON with runs of blanks until max_tokens


def check_schema(schema: Any, field: str) -> None:
    """InferenceRequestError naming ``field`` when ``schema`` is not a valid JSON Schema."""
    jsonschema = require("jsonschema", "structured output (response_format, tools)", "llm")
    if not isinstance(schema, dict):
        raise InferenceRequestError(f"{field} is not a valid JSON Schema: it must be a JSON object")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InferenceRequestError(f"{field} is not a valid JSON Schema: {exc.message} at {where}") from None


def tool_call_schema(tools: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The JSON an answer that calls one of ``tools`` (name, parameters schema) must be."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for name, parameters in tools
        ]
    }


class Constraints:
    """One engine's constrained decoding: the tokenizer's prefix tree (built once, on first use)
    and a token enforcer per constrained row (kept on the row as ``row.constraint``).

    Near the end of a row's ``max_tokens`` (the last ``FINISH_SHARE`` of them) it prefers the
    allowed tokens that close what is open (end of text, ``"``, ``,``, ``]``, ``}``), so a
    number or string the model would run on with is cut short and the JSON still completes.
    """

    FINISH_SHARE = 0.5

    def __init__(self, tokenizer: Any, eos_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self._data: Any = None
        self._closers: set[int] = set()
        self._brackets: set[int] = set()
        self._quotes: set[int] = set()
        self._first: dict[int, str] = {}  # each token's first character

    def mask(self, row: Any, logits: Any) -> None:
        """Set ``logits`` (one row's, in place) to -inf for every token the schema forbids next."""
        if row.constraint is None:
            row.constraint = self.enforcer(row.request.json_schema)
        allowed = list(row.constraint.get_allowed_tokens(row.ids + row.tokens).allowed_tokens)
        in_string, last = _where(self.tokenizer.decode(row.tokens)) if row.tokens else (False, "")
        if last == "," and not in_string:
            # lm-format-enforcer 0.11 lets an object or list close right after a comma
            allowed = [t for t in allowed if t not in self._brackets]
        if not in_string and row.tokens:
            # and lets a number end half-made ("0." then "E5", "1e" then "}"): JSON needs a digit
            # after "-" or ".", and a digit or sign after an exponent's "e"
            need = _number_needs(self.tokenizer.decode(row.tokens))
            if need:
                digits = [t for t in allowed if self._first.get(t, "") in need]
                allowed = digits or allowed
        left = row.request.max_tokens - len(row.tokens)
        if left <= max(4, int(row.request.max_tokens * self.FINISH_SHARE)):
            # what ends the open value soonest: the closing quote in a string, else a bracket
            for prefer in (self.eos_ids, self._quotes if in_string else self._brackets, self._closers):
                closing = [t for t in allowed if t in prefer]
                if closing:
                    allowed = closing
                    break
        if not allowed:  # the schema is satisfied and nothing may follow
            allowed = sorted(self.eos_ids)
        keep = logits[allowed].clone()
        logits.fill_(float("-inf"))
        logits[allowed] = keep

    def parser(self, schema: dict[str, Any]) -> Any:
        """The schema as lm-format-enforcer's parser; InferenceRequestError if it cannot follow it."""
        lmfe = require("lmformatenforcer", "structured output (response_format, tools)", "llm")
        config = lmfe.CharacterLevelParserConfig(max_consecutive_whitespaces=_MAX_WHITESPACE)
        try:
            return lmfe.JsonSchemaParser(_all_required(schema), config=config)
        except Exception as exc:  # its own errors and pydantic's, for schema parts it does not do
            raise InferenceRequestError(
                f"response_format: this schema cannot be used for constrained decoding: {exc}"
            ) from None

    def enforcer(self, schema: dict[str, Any]) -> Any:
        """A fresh per-row state: ``get_allowed_tokens(prompt + generated ids)``."""
        lmfe = require("lmformatenforcer", "structured output (response_format, tools)", "llm")
        if self._data is None:
            self._data, self._closers, self._brackets = _tokenizer_data(lmfe, self.tokenizer)
            self._quotes = {t for t in self._closers if '"' in self.tokenizer.decode([t])}
            self._first = {t: self.tokenizer.decode([t])[:1] for t in range(len(self.tokenizer))}
        return lmfe.TokenEnforcer(self._data, self.parser(schema))


def _all_required(schema: Any) -> Any:
    """``schema`` with every object's properties required. lm-format-enforcer (0.11) lets an
    object close right after a comma (``{"a":1,}``) while optional properties are left; with
    all of them required it never does, and the answer still matches the caller's schema."""
    if isinstance(schema, list):
        return [_all_required(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _all_required(value) for key, value in schema.items()}
    if isinstance(out.get("properties"), dict) and out["properties"]:
        out["required"] = list(out["properties"])
    return out


_DIGITS = frozenset("0123456789")
_NUMBER_TAILS = (
    (re.compile(r"(?:^|[^0-9A-Za-z_])-$|[0-9]\.$|[0-9][eE][+-]$"), _DIGITS),
    (re.compile(r"[0-9][eE]$"), _DIGITS | {"+", "-"}),
)


def _number_needs(text: str) -> frozenset[str] | None:
    """What the next character must be when ``text`` (outside any string) ends inside a number
    that is not complete yet (after "-", ".", "e" or "e+"); None when it does not."""
    for pattern, need in _NUMBER_TAILS:
        if pattern.search(text):
            return need
    return None


def _where(text: str) -> tuple[bool, str]:
    """Whether ``text`` ends inside a JSON string, and its last character outside strings."""
    last, in_string, escaped = "", False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string, last = True, char
        elif not char.isspace():
            last = char
    return in_string, last


def _tokenizer_data(lmfe: Any, tokenizer: Any) -> tuple[Any, set[int], set[int]]:
    """Each token's text, as lm-format-enforcer wants it; the tokens that close something
    (``"``, ``,``, ``]``, ``}``) and those that start with a closing bracket.
    Its own transformers integration imports a module transformers 5 moved, so this is its
    builder, on the tokenizer's public API."""
    zero = tokenizer.encode("0")[-1]
    special = set(tokenizer.all_special_ids)
    tokens = []
    for index in range(len(tokenizer)):
        text = tokenizer.decode([index])
        if index in special or not text.strip() or "\ufffd" in text or min(text) < " ":
            # blank tokens: compact JSON needs none, and a model may pad with them for ever;
            # a byte of a character cut in two: the parser would see text that is not there;
            # control characters: lm-format-enforcer lets them into strings, where JSON forbids them
            continue
        # after a "0", a token that starts a word decodes with its leading space
        after_zero = tokenizer.decode([zero, index])[1:]
        tokens.append((index, after_zero, len(after_zero) > len(text)))

    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids)).rstrip("\ufffd")  # a token cut inside a character

    closers = {index for index, text, _ in tokens if set(text) & set('",]}')}
    brackets = {index for index, text, _ in tokens if text.lstrip()[:1] in ("]", "}")}
    data = lmfe.TokenEnforcerTokenizerData(tokens, decode, tokenizer.eos_token_id, False, len(tokenizer))
    return data, closers, brackets
