"""Shut nodes down at interpreter exit, while their thread pools still work.

A head or worker that the program never shut down is stopped at exit. ``atexit`` is too
late for that: ``concurrent.futures`` refuses new work once the interpreter starts shutting
down (its own hook runs before ``atexit``'s), and stopping the head's services needs its
pools, so every service logged "cannot schedule new futures after shutdown" with a traceback.
Hooks registered here run before that one (threading's exit hooks run last-registered
first, and ``concurrent.futures`` registers its own when first imported, before any node
exists), and before non-daemon threads are joined.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["call_at_exit"]


def call_at_exit(hook: Callable[..., Any], *args: Any) -> None:
    """Run ``hook(*args)`` as the interpreter exits, before thread pools stop taking work."""
    register = getattr(threading, "_register_atexit", None)  # the hook concurrent.futures uses
    if register is None:  # not in this Python: atexit, late but better than nothing
        atexit.register(hook, *args)
        return
    try:
        register(hook, *args)
    except RuntimeError:  # registered while the interpreter already exits
        atexit.register(hook, *args)
