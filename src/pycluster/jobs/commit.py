"""Group commit: concurrent submissions are written to SQLite in one transaction.

Each submitter waits until its job is committed (an acknowledged job survives kill -9), but
the 20 submitters of a busy moment share one ``BEGIN ... COMMIT`` instead of queueing for one
each: one thread writes whatever has arrived meanwhile as one batch. A batch that fails as a
whole (one job's id taken, a full disk) is written again job by job, so each submitter gets
its own answer.

A coroutine waits for its commit without a thread of its own (:meth:`GroupCommit.commit_async`):
the committer settles every coroutine of a batch on their event loop with one wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue as stdqueue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from ..errors import JobStateError
from .model import Job

__all__ = ["MAX_BATCH", "GroupCommit"]

log = logging.getLogger(__name__)

MAX_BATCH = 500  # jobs in one transaction at most

# who waits for a commit: a thread (concurrent future) or a coroutine (asyncio future)
_Waiter = Future[None] | asyncio.Future[None]


class GroupCommit:
    """``write(jobs)`` stores a batch in one transaction; ``then(jobs)`` runs after it committed
    (the queue takes the jobs in), both on the committer thread."""

    def __init__(self, write: Callable[[list[Job]], None], then: Callable[[list[Job]], None]) -> None:
        self._write = write
        self._then = then
        self._queue: stdqueue.SimpleQueue[tuple[Job, _Waiter] | None] = stdqueue.SimpleQueue()
        self._put_lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="pycluster-job-commit", daemon=True)
        self._thread.start()

    def commit(self, job: Job, timeout: float = 60.0) -> None:
        """Store ``job``; returns once it is committed, or raises why it could not be."""
        done: Future[None] = Future()
        self._put(job, done)
        done.result(timeout)

    async def commit_async(self, job: Job) -> None:
        """:meth:`commit` for a coroutine: the event loop goes on while the batch is written.

        No timeout, unlike :meth:`commit`: a timer per request was 5 % of a REST submission's CPU
        on the loop, and the committer answers every waiter it took, an error included."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._put(job, done)
        await done

    def _put(self, job: Job, done: _Waiter) -> None:
        """Queue ``job`` for the committer; refused once it is closing or gone (nobody would answer)."""
        with self._put_lock:
            if self._closing or not self._thread.is_alive():
                raise JobStateError("the job queue is stopped: the job was not stored")
            self._queue.put((job, done))

    def close(self) -> None:
        """Write what is queued, then end the committer thread."""
        with self._put_lock:  # whatever was queued before is written; nothing comes after
            self._closing = True
            self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            closing = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except stdqueue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                batch.append(more)
            self._commit(batch)
            if closing:
                return

    def _commit(self, batch: list[tuple[Job, _Waiter]]) -> None:
        try:
            self._store([job for job, _ in batch])
        except BaseException as exc:
            if len(batch) == 1:
                self._answer(batch, exc)
                return
            for one in batch:  # who failed it: each on its own
                try:
                    self._store([one[0]])
                except BaseException as own:
                    self._answer([one], own)
                else:
                    self._answer([one])
            return
        self._answer(batch)

    def _store(self, jobs: list[Job]) -> None:
        self._write(jobs)
        try:
            self._then(jobs)
        except Exception:  # stored: the dispatcher recovers it at the next start at worst
            log.exception("could not queue %d stored jobs", len(jobs))

    @staticmethod
    def _answer(batch: list[tuple[Job, _Waiter]], error: BaseException | None = None) -> None:
        on_loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, done in batch:
            if isinstance(done, asyncio.Future):
                on_loops.setdefault(done.get_loop(), []).append(done)
            elif error is not None:
                done.set_exception(error)
            else:
                done.set_result(None)
        for loop, waiting in on_loops.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there any more
                loop.call_soon_threadsafe(_settle, waiting, error)


def _settle(waiting: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """On the waiters' loop: answer each one still waiting (a cancelled request is not)."""
    for done in waiting:
        if done.done():
            continue
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)
