"""/api/processing/*: the Distributed Processing Cluster API (cluster, jobs, queue, metrics, health)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...cluster.recommendations import recommend
from ...errors import JobStateError
from ...jobs.model import Job, JobStatus
from ...jobs.operations import OPERATIONS
from ...jobs.request import JobRequest
from ...jobs.schedules import JobTemplate, Schedule
from ..deps import ERROR_RESPONSES, controller, head, iso, jobs, with_dashboard
from ..joblogs import follow_logs, logs_answer
from ..models import (
    AdaptiveModel,
    AutoscaleResponse,
    ClusterInfo,
    ClusterMessage,
    ClusterMetrics,
    ClusterStatusResponse,
    JobAccepted,
    JobDetail,
    JobList,
    JobResult,
    JobRetried,
    Message,
    QueueStatusModel,
    ScalingRecommendation,
)
from ..models import (
    JobLogs as JobLogsModel,
)
from ..models_jobs import JobSpec, JobSubmissionBody
from .cluster import cluster_metrics, cluster_status

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["processing"])


class ScheduleSubmission(JobSpec):
    """A job submitted at every slot of a cron expression (UTC)."""

    cron: str = Field(
        min_length=1,
        max_length=200,
        examples=["*/5 * * * *"],
        description="five fields (minute hour day-of-month month day-of-week), or six with seconds last",
    )

    def template(self, client_id: str) -> JobTemplate:
        return JobTemplate(
            operation=self.operation,
            parameters=self.parameters,
            dataset_id=self.dataset_id,
            priority=self.priority,
            max_cores=self.max_cores,
            max_memory_gb=self.max_memory_gb,
            retries=self.retries,
            timeout_s=self.timeout_s,
            retry_backoff_s=self.retry_backoff_s,
            result_ttl_s=self.result_ttl_s,
            client_id=self.client_id or client_id,
        )


class OperationInfo(BaseModel):
    name: str
    description: str
    example: dict[str, Any] = Field(description="parameters to start from")


class OperationList(BaseModel):
    operations: list[OperationInfo]


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_workers: int = Field(ge=0, le=1024)


_WAITING = frozenset({JobStatus.PENDING, JobStatus.QUEUED})


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "type": job.operation,
        "operation": job.operation,
        "dataset_id": job.dataset_id,
        "status": job.status.value,
        "priority": job.priority.name,
        "progress": job.progress,
        "eta_seconds": job.eta_seconds,
        "created_at": iso(job.created_at),
        "waiting_reason": job.waiting_reason if job.status in _WAITING else None,
    }


def job_detail(job: Job) -> dict[str, Any]:
    detail = {
        **job_summary(job),
        "parameters": job.parameters if job.kind == "operation" else {},
        "client_id": job.client_id,
        "max_cores": job.max_cores,
        "max_memory_gb": job.max_memory_gb,
        "pieces_done": job.pieces_done,
        "pieces_total": job.pieces_total,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "timeout_s": job.timeout_s,
        "retry_backoff_s": job.retry_backoff_s,
        "result_ttl_s": job.result_ttl_s,
        "expires_at": iso(job.expires_at),
        "retry_of": job.retry_of,
        "depends_on": job.depends_on,
        "run_at": iso(job.run_at),
        "schedule_id": job.schedule_id,
        "error": job.error,
        "queued_at": iso(job.queued_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }
    if job.status == JobStatus.COMPLETED:
        detail["result"] = job.result
        if job.result_path is not None:
            detail["result_url"] = f"/api/processing/jobs/{job.id}/result"
    return detail


# ---------------------------------------------------------------- cluster
def _cluster_info(request: Request) -> ClusterInfo:
    node = head(request)
    status = node.run_on_loop(node.cluster_status(), timeout=10)
    return ClusterInfo.model_validate(with_dashboard(request, status.to_dict()))


@router.post("/cluster/start")
def start_cluster(request: Request) -> ClusterMessage:
    """Start the local cluster (standalone API); under a head node it is already running."""
    started, _ = controller(request).start_cluster()
    message = "Cluster started successfully" if started else "Cluster is already running"
    return ClusterMessage(message=message, cluster_info=_cluster_info(request))


router.add_api_route("/cluster/status", cluster_status, methods=["GET"], response_model=ClusterStatusResponse)


@router.post("/cluster/scale")
def scale_cluster(body: ScaleRequest, request: Request) -> ClusterMessage:
    """Set the number of local worker processes."""
    head(request).cluster_manager.scale(body.n_workers)
    message = f"Cluster scaled to {body.n_workers} workers"
    return ClusterMessage(message=message, cluster_info=_cluster_info(request))


class AutoscaleRequest(BaseModel):
    """Adaptive scaling between ``minimum`` and ``maximum`` workers; ``enabled: false`` turns it off."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    minimum: int = Field(1, ge=0, le=1024)
    maximum: int | None = Field(None, ge=1, le=1024, description="default: the head machine's cores")


@router.post("/cluster/autoscale")
def autoscale_cluster(body: AutoscaleRequest, request: Request) -> AutoscaleResponse:
    """Turn adaptive scaling on (queued tasks and jobs bring workers up; idle ones retire) or off."""
    node = head(request)
    if not body.enabled:
        state = node.adapt(None)
        return AutoscaleResponse(message="Adaptive scaling is off", adaptive=_adaptive(state.to_dict()))
    state = node.adapt(body.minimum, body.maximum)
    message = f"Adaptive scaling between {state.minimum} and {state.maximum} workers"
    return AutoscaleResponse(message=message, adaptive=_adaptive(state.to_dict()))


@router.get("/cluster/autoscale")
def autoscale_state(request: Request) -> AdaptiveModel:
    return _adaptive(head(request).adaptive.to_dict())


@router.get("/cluster/recommendations")
def scaling_recommendations(request: Request) -> ScalingRecommendation:
    """Concrete scaling advice from queue depth, CPU and memory: action, workers and the reason."""
    node = head(request)
    advice = node.run_on_loop(recommend(node), timeout=10)
    return ScalingRecommendation.model_validate({**advice.to_dict(), "adaptive": node.adaptive.to_dict()})


def _adaptive(state: dict[str, Any]) -> AdaptiveModel:
    return AdaptiveModel.model_validate(state)


@router.post("/cluster/stop")
def stop_cluster(request: Request) -> Message:
    controller(request).stop_cluster()
    return Message(message="Cluster stopped successfully")


# ---------------------------------------------------------------- jobs
@router.post("/jobs/submit")
async def submit_job(body: JobSubmissionBody, request: Request) -> JobAccepted:
    """Queue an operation; dispatched by priority (LOW < NORMAL < HIGH < CRITICAL).

    The body is one variant per operation (``operation`` tells which): see ``web/models_jobs.py``."""
    client_id = body.client_id or request.headers.get("x-client-id") or _peer(request)
    # async: stored by the group commit without a thread per request (JobQueue.submit_async)
    job = await jobs(request).submit_async(
        JobRequest(
            body.operation,
            body.parameter_dict(),
            dataset_id=body.dataset_id,
            priority=body.priority,
            max_cores=body.max_cores,
            max_memory_gb=body.max_memory_gb,
            retries=body.retries,
            client_id=client_id,
            timeout_s=body.timeout_s,
            retry_backoff_s=body.retry_backoff_s,
            result_ttl_s=body.result_ttl_s,
            depends_on=body.depends_on,
            run_at=body.run_at,
        )
    )
    return JobAccepted(message="Job submitted successfully", job_id=job.id, status=job.status)


def _peer(request: Request) -> str:
    return request.client.host if request.client else "default"


@router.get("/operations")
def list_operations() -> OperationList:
    """The operations a job may name over REST (Python-only ones are left out)."""
    public = sorted(name for name in OPERATIONS if not name.startswith("python."))
    infos = [
        OperationInfo(name=n, description=OPERATIONS[n].description, example=dict(OPERATIONS[n].example))
        for n in public
    ]
    return OperationList(operations=infos)


_ACTIVE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)
# what _statuses reads, in the schema too (so a client knows the names before it sends one)
_STATUS_NAME = "(" + "|".join([*(s.value for s in JobStatus), "active"]) + ")"
_STATUS_LIST = rf"^ *{_STATUS_NAME}? *(, *{_STATUS_NAME}? *)*$"


def _statuses(value: str | None) -> tuple[JobStatus, ...]:
    """``status=failed`` or ``status=queued,running``; ``active`` means pending, queued and running."""
    if value is None or not value.strip():
        return ()
    found: list[JobStatus] = []
    for name in (part.strip().lower() for part in value.split(",") if part.strip()):
        if name == "active":
            found.extend(_ACTIVE)
        elif name in JobStatus._value2member_map_:
            found.append(JobStatus(name))
        else:
            allowed = ", ".join([s.value for s in JobStatus] + ["active"])
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "status"),
                        "msg": f"unknown status {name!r}; allowed: {allowed}",
                        "type": "value_error",
                    }
                ]
            )
    return tuple(dict.fromkeys(found))


@router.get("/jobs/list")
@router.get("/jobs", include_in_schema=False)
def list_jobs(
    request: Request,
    status: str | None = Query(
        None,
        max_length=200,
        # in the schema only: _statuses checks it, naming the unknown status and the allowed ones
        json_schema_extra={"pattern": _STATUS_LIST},
        description="one status, several separated by commas, or 'active'",
    ),
    q: str | None = Query(
        None, max_length=200, description="text in the job id, operation, client id or error"
    ),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> JobList:
    """Jobs, newest first, a page at a time; ``status`` and ``q`` filter over all stored jobs."""
    total, found = jobs(request).search(_statuses(status), (q or "").strip(), limit, offset)
    summaries = [job_summary(j) for j in found]
    return JobList.model_validate({"total": total, "limit": limit, "offset": offset, "jobs": summaries})


@router.get("/jobs/{job_id}/status", response_model=JobDetail, response_model_exclude_unset=True)
async def job_status(job_id: str, request: Request) -> dict[str, Any]:
    """The job's state; ``result`` (and ``result_url`` for a result file) once it completed;
    ``tracebacks`` of its failed pieces (the workers' full tracebacks) once one failed."""
    queue = jobs(request)
    # on the loop, no thread hop: a lookup in memory, or one indexed row through the store's
    # read-only connection, which never waits for the group commit's write transaction
    job = queue.get(job_id)
    detail = job_detail(job)
    if job.attempts or job.status == JobStatus.FAILED:  # only then is there one to read
        found = await asyncio.to_thread(queue.runner.logs.tracebacks, job.id)  # a file read
        detail["tracebacks"] = [{"piece": e.piece, "attempt": e.attempt, "text": e.text} for e in found]
    return detail


# one server-sent event (Open API before 3.2 has a stream's schema describe each event): its name
# and its data line, JSON text (web/joblogs.py writes them)
LOG_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string", "enum": ["logs", "end"]},
        "data": {
            "type": "string",
            "description": "JSON: 'logs', a page as the JSON answer has it; 'end', {job_id, status}",
        },
    },
}


@router.get(
    "/jobs/{job_id}/logs",
    response_model=None,
    responses={
        200: {
            "model": JobLogsModel,
            "description": "A page of the logs as JSON; with follow=true, Server-Sent Events "
            "('logs': such a page, 'end': {job_id, status})",
            "content": {"text/event-stream": {"schema": LOG_EVENT_SCHEMA}},
        }
    },
)
def job_logs(
    job_id: str,
    request: Request,
    follow: bool = Query(False, description="stream new lines as Server-Sent Events until the job ends"),
    offset: int = Query(0, ge=0, le=2**53, description="byte offset: the previous answer's next_offset"),
) -> JobLogsModel | StreamingResponse:
    """What the job's pieces wrote to stdout, stderr and ``logging``, their tracebacks and durations."""
    queue = jobs(request)
    answer = logs_answer(queue, job_id, offset)  # 404 for an unknown job, also before a stream
    if not follow:
        return JobLogsModel.model_validate(answer)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    body = follow_logs(request, queue, job_id, offset)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, request: Request) -> JobAccepted:
    """Cancel a queued or running job (409 for a finished one)."""
    job = jobs(request).cancel(job_id)
    return JobAccepted(message="Job cancelled", job_id=job.id, status=job.status)


@router.post("/jobs/{job_id}/retry")
def retry_job(job_id: str, request: Request) -> JobRetried:
    """Submit a failed or cancelled job again with the same spec (409 for any other job)."""
    job = jobs(request).retry(job_id)
    return JobRetried(message="Job submitted again", job_id=job.id, status=job.status, retry_of=job_id)


@router.delete("/jobs/{job_id}")
def delete_job(job_id: str, request: Request) -> JobAccepted:
    """Delete a finished job with its result file (409 for a queued or running one: cancel it first)."""
    job = jobs(request).delete(job_id)
    return JobAccepted(message="Job deleted", job_id=job.id, status=job.status)


@router.get(
    "/jobs/{job_id}/result",
    response_model=None,
    responses={
        200: {
            "model": JobResult,
            "description": "The result inline as JSON, or the result file (large results)",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def job_result(job_id: str, request: Request) -> JobResult | FileResponse:
    """The result of a completed job: inline JSON, or the result file for large results."""
    queue = jobs(request)
    job = queue.get(job_id)
    if job.status != JobStatus.COMPLETED:
        raise JobStateError(f"job {job_id} is {job.status.value}; results exist only for completed jobs")
    if job.result_path is None:
        return JobResult(job_id=job.id, result=job.result)
    if job.kind == "python":
        raise JobStateError(f"job {job_id} ran Python code; fetch its result from Python: handle.result()")
    return FileResponse(job.result_path, filename=Path(job.result_path).name)


# ---------------------------------------------------------------- cron schedules
class ScheduledJob(BaseModel):
    """The job a schedule submits at each slot."""

    operation: str
    parameters: dict[str, Any]
    dataset_id: str | None
    priority: str
    max_cores: float | None
    max_memory_gb: float | None
    retries: int | None
    timeout_s: float | None
    retry_backoff_s: float | None
    result_ttl_s: float | None
    client_id: str


class ScheduleDetail(BaseModel):
    schedule_id: str
    cron: str
    job: ScheduledJob
    next_run_at: str | None = Field(description="the next slot (UTC)")
    last_run_at: str | None = Field(description="the last slot fired")
    last_job_id: str | None = Field(description="the job the last slot submitted")
    last_error: str | None = Field(description="why the last slot could not submit its job (it was skipped)")
    fired: int = Field(description="slots fired so far")
    created_at: str | None


class ScheduleList(BaseModel):
    total: int
    schedules: list[ScheduleDetail]


class ScheduleDeleted(ScheduleDetail):
    message: str


def schedule_detail(schedule: Schedule) -> ScheduleDetail:
    return ScheduleDetail(
        schedule_id=schedule.id,
        cron=schedule.cron,
        job=ScheduledJob(**asdict(schedule.template)),
        next_run_at=iso(schedule.next_run_at),
        last_run_at=iso(schedule.last_run_at),
        last_job_id=schedule.last_job_id,
        last_error=schedule.last_error,
        fired=schedule.fired,
        created_at=iso(schedule.created_at),
    )


@router.post("/schedules")
def add_schedule(body: ScheduleSubmission, request: Request) -> ScheduleDetail:
    """Submit the job at every slot of ``cron`` (UTC); 422 naming the field for a bad expression or job."""
    client_id = request.headers.get("x-client-id") or _peer(request)
    return schedule_detail(jobs(request).add_schedule(body.cron, body.template(client_id)))


@router.get("/schedules")
def list_schedules(request: Request) -> ScheduleList:
    found = jobs(request).list_schedules()
    return ScheduleList(total=len(found), schedules=[schedule_detail(s) for s in found])


@router.get("/schedules/{schedule_id}")
def get_schedule(schedule_id: str, request: Request) -> ScheduleDetail:
    return schedule_detail(jobs(request).get_schedule(schedule_id))


@router.delete("/schedules/{schedule_id}")
def delete_schedule(schedule_id: str, request: Request) -> ScheduleDeleted:
    """Stop a schedule (404 unknown); the jobs it already fired stay."""
    detail = schedule_detail(jobs(request).delete_schedule(schedule_id))
    return ScheduleDeleted(message="Schedule deleted", **detail.model_dump())


# ---------------------------------------------------------------- queue, metrics
@router.get("/queue/status")
def queue_status(request: Request) -> QueueStatusModel:
    return QueueStatusModel.model_validate(jobs(request).status().to_dict())


router.add_api_route("/metrics/cluster", cluster_metrics, methods=["GET"], response_model=ClusterMetrics)
# GET /api/processing/health is served by the health router (one implementation for both paths)
