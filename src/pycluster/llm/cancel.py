"""A caller's "I am gone" signal for requests that are not streamed.

A streamed request ends its row when its reader closes the stream; a request answered whole
has no such moment, so its caller (the REST route, which watches the HTTP connection) holds a
``CancelToken`` and fires it when the client disconnects. The manager registers, per request,
what cancelling means (a ``cancel`` call to the replica that runs it).

>>> token = CancelToken()
>>> token.on_cancel(lambda: print("row freed"))
>>> token.cancel()
row freed
>>> token.cancelled
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CancelToken"]


class CancelToken:
    """Fired once (from any thread); callbacks registered after it fired run at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.cancelled = False

    def on_cancel(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self.cancelled:
                self._callbacks.append(callback)
                return
        callback()

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()
