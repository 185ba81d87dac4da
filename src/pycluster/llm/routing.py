"""Prefix-aware routing: a request goes to the replica that already holds its prompt's prefix.

Each replica keeps the KV cache of the prompts it served (``prefix_cache.py``), so a request
that shares a long prefix (a system prompt) with an earlier one runs faster where that one
ran. The head cannot see the replicas' caches; it remembers instead which replica last took
each prompt head (the first ``PREFIX_CHARS`` characters) and sends the next request with the
same head there, unless that replica is already ``slack`` requests busier than the least busy
one: load still wins over reuse.

>>> router = PrefixRouter()
>>> router.key(GenerationRequest(prompt="short")) is None
True
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from .deployment import ReplicaHandle
from .engines import GenerationRequest

__all__ = ["PREFIX_CHARS", "PrefixRouter"]

PREFIX_CHARS = 256  # a prompt head this long identifies a shared system prompt
_REMEMBERED = 4096  # prompt heads remembered per head node (LRU)


class PrefixRouter:
    """Remembers which replica served each prompt head; ``pick`` prefers it."""

    def __init__(self, slack: int = 4) -> None:
        self.slack = slack
        self._where: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, request: GenerationRequest, deployment_id: str = "") -> str | None:
        """The request's prompt head as a key (None when the prompt is too short to matter)."""
        if request.messages is not None:
            text = "\n".join(f"{m.get('role')}:{m.get('content')}" for m in request.messages)
        else:
            text = request.prompt or ""
        if len(text) < PREFIX_CHARS:
            return None
        head = f"{deployment_id}\0{request.adapter}\0{text[:PREFIX_CHARS]}"
        return hashlib.blake2b(head.encode(), digest_size=16).hexdigest()

    def pick(self, ready: Sequence[ReplicaHandle], key: str | None) -> ReplicaHandle:
        """The replica that served ``key`` before if it is not much busier, else the least busy."""
        least = min(ready, key=lambda r: r.inflight)
        if key is None:
            return least
        with self._lock:
            index = self._where.get(key)
        holder = next((r for r in ready if r.index == index), None)
        chosen = holder if holder is not None and holder.inflight <= least.inflight + self.slack else least
        with self._lock:
            self._where[key] = chosen.index
            self._where.move_to_end(key)
            while len(self._where) > _REMEMBERED:
                self._where.popitem(last=False)
        return chosen
