"""A head service that looks at the scheduler every few seconds, on the head's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["SnapshotLoop"]

logger = logging.getLogger(__name__)


class SnapshotLoop:
    """Every ``interval`` seconds, ``observe`` the scheduler's snapshot.

    Subclasses implement ``observe`` (and may ``prepare`` before the first one). A failing
    observation never ends the loop; the first failure is logged, later ones are not.
    """

    def __init__(self, head: HeadNode, interval: float) -> None:
        self.head = head
        self.interval = max(0.1, interval)
        self._task: asyncio.Task[None] | None = None
        self._failed = False

    async def prepare(self) -> None:
        """Runs once on the head's loop before the first observation."""

    def observe(self, identity: dict[str, Any]) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        await self.prepare()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.observe(await self.head.snapshot())
            except Exception:
                if not self._failed:  # once: a broken observer would otherwise log every tick
                    logger.exception("%s could not observe the cluster", type(self).__name__)
                self._failed = True
            await asyncio.sleep(self.interval)

    async def stop_async(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
