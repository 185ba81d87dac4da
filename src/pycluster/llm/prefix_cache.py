"""The KV cache of recent prompts, so a new row starts from the longest prefix already computed.

Hundreds of requests often share one system prompt; without this every one of them runs
the whole prompt through the model again. After a row's prompt is prefilled, its keys and
values (one ``[heads, tokens, head_dim]`` tensor pair per layer, no padding) are kept here,
least recently used first out once the entries pass ``max_bytes``. A new prompt that shares
at least ``min_tokens`` leading tokens with an entry takes those positions' keys and values
and only the rest of its prompt goes through the model. Entries are per adapter: a LoRA
adapter changes the keys and values of the same tokens.

>>> cache = PrefixCache(max_bytes=1 << 20, min_tokens=2)
>>> cache.longest([1, 2, 3]) is None
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PrefixCache", "PrefixEntry", "PrefixHit"]


@dataclass(eq=False)
class PrefixEntry:
    """One prompt's keys and values: ``layers[i] = (keys, values)``, each ``[heads, tokens, dim]``."""

    ids: tuple[int, ...]
    adapter: str | None
    layers: list[tuple[Any, Any]]
    nbytes: int


@dataclass(frozen=True)
class PrefixHit:
    """The first ``length`` tokens of a prompt are in ``entry``."""

    entry: PrefixEntry
    length: int

    def layers(self) -> list[tuple[Any, Any]]:
        """The keys and values of those ``length`` positions (views: the entry stays as it is)."""
        n = self.length
        return [(k[:, :n, :], v[:, :n, :]) for k, v in self.entry.layers]


class PrefixCache:
    """LRU store of prompt KV caches, bounded by bytes; ``hits``/``misses`` count lookups."""

    def __init__(self, max_bytes: int, min_tokens: int = 16, max_entries: int = 256) -> None:
        self.max_bytes, self.min_tokens, self.max_entries = max_bytes, min_tokens, max_entries
        self._entries: OrderedDict[tuple[str | None, tuple[int, ...]], PrefixEntry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.reused_tokens = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, ids: Sequence[int], adapter: str | None = None) -> PrefixHit | None:
        """The entry sharing the most leading tokens with ``ids`` (at least ``min_tokens``).

        At most ``len(ids) - 1`` tokens are taken, so the model still runs the prompt's last
        token and gives the logits of the first new one.
        """
        if not self.enabled or len(ids) <= self.min_tokens:
            return None
        wanted = tuple(ids)
        best: PrefixHit | None = None
        for entry in self._entries.values():
            if entry.adapter != adapter or entry.ids[0] != wanted[0]:
                continue
            shared = min(_shared(entry.ids, wanted), len(wanted) - 1)
            if shared >= self.min_tokens and (best is None or shared > best.length):
                best = PrefixHit(entry, shared)
        if best is None:
            self.misses += 1
            return None
        self._entries.move_to_end((adapter, best.entry.ids))
        self.hits += 1
        self.reused_tokens += best.length
        return best

    def wants(self, ids: Sequence[int], adapter: str | None = None) -> bool:
        """Whether ``add`` would keep this prompt (long enough, not there yet); marks it used."""
        key = (adapter, tuple(ids))
        if key in self._entries:
            self._entries.move_to_end(key)
            return False
        return self.enabled and len(ids) > self.min_tokens

    def add(self, ids: Sequence[int], layers: list[tuple[Any, Any]], adapter: str | None = None) -> None:
        """Keep one prompt's keys and values (already cut to its own positions, no padding)."""
        key = (adapter, tuple(ids))
        if not self.enabled or len(ids) <= self.min_tokens or key in self._entries:
            if key in self._entries:
                self._entries.move_to_end(key)
            return
        nbytes = sum(k.nelement() * k.element_size() + v.nelement() * v.element_size() for k, v in layers)
        if nbytes > self.max_bytes:
            return
        self._entries[key] = PrefixEntry(key[1], adapter, layers, nbytes)
        self.bytes += nbytes
        while self.bytes > self.max_bytes or len(self._entries) > self.max_entries:
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.nbytes

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {
            "prefix_entries": len(self._entries),
            "prefix_bytes": self.bytes,
            "prefix_hits": self.hits,
            "prefix_misses": self.misses,
            "prefix_reused_tokens": self.reused_tokens,
        }


def _shared(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """How many leading tokens ``a`` and ``b`` share: a binary search of slice comparisons,
    each done in C, instead of a Python loop over hundreds of tokens per entry."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low
