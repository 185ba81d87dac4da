"""/api/dashboard/*: what an operator does from the dashboard's Tasks and Workers tabs.

The task stream (which worker ran which function when) and per-function durations; one
worker's detail (uptime, memory as Dask splits it, recent log lines); restarting and retiring
a worker; pausing and resuming the job queue's dispatch. Scheduler state is read and changed
on the head's loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..auth import require_token
from ..deps import ERROR_RESPONSES, head, jobs
from ..snapshot import on_head_loop

if TYPE_CHECKING:
    from distributed.scheduler import WorkerState

    from ...cluster.head import HeadNode
    from ...monitor.history import MetricsHistory

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["dashboard"], dependencies=[Depends(require_token)])

MAX_RECORDS = 2000  # per answer: a browser a few seconds behind a busy cluster catches up in steps


class TaskStreamView(BaseModel):
    """Task records after ``since`` (oldest first) and every function's durations."""

    now: float = Field(description="the scheduler's clock, seconds; records' start and stop use it")
    last_seq: int = Field(description="pass it as ``since`` next time to get only newer records")
    records: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    workers: list[str] = Field(description="the lanes: workers connected now, sorted")


class WorkerMemory(BaseModel):
    """Bytes, as Dask's worker-memory model splits the process's memory."""

    process: int
    managed: int = Field(description="data Dask holds in memory for tasks")
    unmanaged: int = Field(description="the rest of the process: interpreter, libraries, leaks")
    unmanaged_recent: int
    spilled: int = Field(description="data Dask moved to disk")
    limit: int


class WorkerDetail(BaseModel):
    address: str
    name: str
    host: str | None
    nthreads: int
    uptime_seconds: float | None = Field(description="since it joined this head; null if it joined before")
    memory: WorkerMemory
    executing: int
    in_memory: int
    nanny: bool = Field(description="restart keeps the same process manager (a Nanny) when true")
    last_seen_seconds: float


class WorkerLogs(BaseModel):
    address: str
    lines: list[dict[str, str]] = Field(description="newest first: level and message")


class WorkerTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=1, max_length=300, examples=["tcp://127.0.0.1:40123"])


class WorkerAction(BaseModel):
    address: str
    action: str
    result: str


class QueueDispatch(BaseModel):
    paused: bool


def _history(node: HeadNode) -> MetricsHistory:
    history: MetricsHistory | None = node.services.get("metrics")
    if history is None:
        raise HTTPException(409, "this head runs without the metrics service, so it keeps no task stream")
    return history


def _worker(node: HeadNode, address: str) -> WorkerState:
    scheduler = node.scheduler
    ws: WorkerState | None = scheduler.workers.get(address) if scheduler is not None else None
    if ws is None:
        raise HTTPException(404, f"no worker {address!r} is connected; GET /api/cluster/workers lists them")
    return ws


@router.get("/task-stream")
async def task_stream(
    request: Request, since: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=MAX_RECORDS)
) -> TaskStreamView:
    """Tasks computed since record ``since``, per worker, and durations per function."""
    node = head(request)
    stream = _history(node).task_stream

    async def read() -> TaskStreamView:
        scheduler = node.scheduler
        lanes = sorted(scheduler.workers) if scheduler is not None else []
        records = [r.to_dict() for r in stream.since(since, limit)]
        functions = [f.to_dict() for f in stream.functions()]
        return TaskStreamView(
            now=time.time(), last_seq=stream.last_seq, records=records, functions=functions, workers=lanes
        )

    return await on_head_loop(node, read)


@router.get("/workers/detail")
async def worker_detail(request: Request, address: str = Query(min_length=1, max_length=300)) -> WorkerDetail:
    """One worker: uptime, memory (managed, unmanaged, spilled), tasks."""
    node = head(request)
    joined = _history(node).task_stream.joined

    async def read() -> WorkerDetail:
        ws = _worker(node, address)
        memory = ws.memory
        since = joined.get(address)
        return WorkerDetail(
            address=address,
            name=str(ws.name),
            host=ws.host,
            nthreads=ws.nthreads,
            uptime_seconds=None if since is None else round(time.time() - since, 1),
            memory=WorkerMemory(
                process=memory.process,
                managed=memory.managed,
                unmanaged=memory.unmanaged,
                unmanaged_recent=memory.unmanaged_recent,
                spilled=memory.spilled,
                limit=int(ws.memory_limit or 0),
            ),
            executing=len(ws.executing),
            in_memory=len(ws.has_what),
            nanny=bool(ws.nanny),
            last_seen_seconds=round(max(0.0, time.time() - ws.last_seen), 2),
        )

    return await on_head_loop(node, read)


@router.get("/workers/logs")
async def worker_logs(
    request: Request, address: str = Query(min_length=1, max_length=300), n: int = Query(100, ge=1, le=1000)
) -> WorkerLogs:
    """The worker's recent log lines (Dask keeps the last few hundred in memory), newest first."""
    node = head(request)

    async def read() -> WorkerLogs:
        _worker(node, address)
        answers = await node.scheduler.get_worker_logs(n=n, workers=[address])
        lines = answers.get(address)
        if not isinstance(lines, (list, tuple)):  # the worker left meanwhile, or answered an error
            raise HTTPException(409, f"worker {address} did not send its logs: {lines!r}"[:300])
        return WorkerLogs(
            address=address, lines=[{"level": str(lv), "message": str(m)} for lv, m, *_ in lines]
        )

    return await on_head_loop(node, read)


@router.post("/workers/restart")
async def restart_worker(body: WorkerTarget, request: Request) -> WorkerAction:
    """Restart one worker: its Nanny starts a fresh process; a worker without one (the head's
    local workers) is removed and its supervisor starts it again. Its tasks are re-run elsewhere."""
    node = head(request)

    async def act() -> WorkerAction:
        _worker(node, body.address)
        answers = await node.scheduler.restart_workers(
            [body.address],
            timeout=30,
            wait_for_workers=False,
            on_error="return",
            stimulus_id="dashboard-restart",
        )
        return WorkerAction(
            address=body.address, action="restart", result=str(answers.get(body.address, "OK"))
        )

    return await on_head_loop(node, act)


@router.post("/workers/retire")
async def retire_worker(body: WorkerTarget, request: Request) -> WorkerAction:
    """Retire one worker for good: its data moves to other workers first, then it closes."""
    node = head(request)

    async def act() -> WorkerAction:
        _worker(node, body.address)
        retired = await node.scheduler.retire_workers(
            workers=[body.address], close_workers=True, stimulus_id="dashboard-retire"
        )
        result = "retired" if body.address in retired else "kept: its data has nowhere else to go"
        return WorkerAction(address=body.address, action="retire", result=result)

    return await on_head_loop(node, act)


@router.post("/queue/pause")
def pause_queue(request: Request) -> QueueDispatch:
    """Hold the job queue's dispatch: queued jobs wait, running jobs go on (cancel those to stop them)."""
    queue = jobs(request)
    queue.pause()
    return QueueDispatch(paused=queue.paused)


@router.post("/queue/resume")
def resume_queue(request: Request) -> QueueDispatch:
    """Dispatch again: queued jobs start as the cluster has room."""
    queue = jobs(request)
    queue.resume()
    return QueueDispatch(paused=queue.paused)
