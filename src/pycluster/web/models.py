"""Response models of the REST API: the JSON shapes the product documents and the dashboard read.

Each model lists the keys a route answers with today; the OpenAPI document (and the
schema test that fuzzes the API) check every response against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..jobs.model import JobStatus

__all__ = [
    "ClusterInfo",
    "ClusterMessage",
    "ClusterMetrics",
    "ClusterResources",
    "ClusterRunning",
    "ClusterStatusResponse",
    "ClusterStopped",
    "ConnectionInfoModel",
    "DatasetAccepted",
    "DatasetDeleted",
    "DatasetDetail",
    "DatasetList",
    "DatasetPartitioned",
    "DatasetSummary",
    "Health",
    "JobAccepted",
    "JobDetail",
    "JobList",
    "JobResult",
    "JobSummary",
    "Message",
    "MetricsSample",
    "PartitionInfo",
    "QueueStatusModel",
    "QueueTotals",
    "ResourceUsageModel",
    "StartHeadResponse",
    "WorkerList",
    "WorkerModel",
    "WorkersStarted",
]

PriorityName = Literal["LOW", "NORMAL", "HIGH", "CRITICAL"]


class Message(BaseModel):
    message: str


# ---------------------------------------------------------------- cluster
class ConnectionInfoModel(BaseModel):
    """How to reach the head (``HeadNode.get_connection_info()``)."""

    cluster_name: str
    scheduler_address: str
    dashboard_address: str | None
    dashboard_url: str | None
    dask_dashboard_url: str | None
    api_docs_url: str
    worker_command: str
    authenticated: bool
    host: str
    discovery_port: int | None


class StartHeadResponse(ConnectionInfoModel):
    status: Literal["success", "already_running"]


class WorkerModel(BaseModel):
    id: str
    name: str
    address: str
    host: str | None
    status: str
    nthreads: int
    memory_limit: int
    memory_used: int
    memory_usage: float | None = Field(description="percent of memory_limit; null without a limit")
    cpu_percent: float
    tasks_executing: int
    tasks_ready: int
    tasks_in_memory: int
    resources: dict[str, float]
    nanny: str | None
    last_seen: float | None


class WorkerList(BaseModel):
    n_workers: int
    workers: list[WorkerModel]


class WorkersStarted(BaseModel):
    """Worker processes started on the head's machine (the last two keys only when some started)."""

    status: Literal["success"]
    n_workers: int
    workers: list[str]
    scheduler_address: str | None = None
    pids: list[int] | None = None


class ClusterRunning(ConnectionInfoModel):
    """A running cluster: addresses, uptime and totals (the processing document's keys among them)."""

    status: Literal["running"]
    uptime_seconds: float
    n_workers: int
    total_cores: int
    total_memory: str = Field(examples=["8.00GB"])
    total_memory_bytes: int
    used_memory: str = Field(examples=["2.50GB"])
    used_memory_bytes: int
    memory_usage_percent: float
    active_tasks: int
    ready_tasks: int
    resources: dict[str, float]


class ClusterStopped(BaseModel):
    cluster_name: str
    status: Literal["stopped"]
    n_workers: int
    total_cores: int
    active_tasks: int


ClusterStatusResponse = Annotated[ClusterRunning | ClusterStopped, Field(discriminator="status")]


class ClusterInfo(BaseModel):
    """``cluster_info`` of the processing document's cluster start and scale answers."""

    status: Literal["running"]
    scheduler_address: str
    dashboard_url: str | None
    n_workers: int
    total_cores: int
    total_memory: str
    used_memory: str
    memory_usage_percent: float
    active_tasks: int


class ClusterMessage(Message):
    cluster_info: ClusterInfo


class MetricsSample(BaseModel):
    """One sample of the metrics history, taken every few seconds."""

    timestamp: str
    n_workers: int
    total_memory: str
    used_memory: str
    total_memory_bytes: int
    used_memory_bytes: int
    memory_usage_percent: float
    total_cores: int
    active_tasks: int
    cpu_percent: float
    network_read_bps: float
    network_write_bps: float
    tasks_completed_total: int
    tasks_failed_total: int
    tasks_per_second: float


class ClusterMetrics(BaseModel):
    """The recent samples: ``metrics`` (the last ``limit``), ``history`` (the last 300), ``current``."""

    total: int
    metrics: list[MetricsSample]
    current: MetricsSample | None
    history: list[MetricsSample]


class Health(BaseModel):
    """Is the head up, and how many workers it has (``uptime_seconds`` only while it runs)."""

    status: Literal["healthy", "degraded", "stopped"]
    cluster_running: bool
    scheduler: Literal["running", "stopped"]
    n_workers: int
    uptime_seconds: float | None = None
    version: str
    timestamp: str


# ---------------------------------------------------------------- jobs and queue
class JobAccepted(Message):
    job_id: str
    status: JobStatus


class JobSummary(BaseModel):
    job_id: str
    type: str
    operation: str
    dataset_id: str | None
    status: JobStatus
    priority: PriorityName
    progress: float
    eta_seconds: float | None
    created_at: str | None


class JobDetail(JobSummary):
    """A job's state; ``result`` (and ``result_url`` for a result file) once it completed."""

    parameters: dict[str, Any]
    client_id: str | None
    max_cores: float | None
    max_memory_gb: float | None
    pieces_done: int
    pieces_total: int
    attempts: int
    max_retries: int
    error: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    result: Any = None
    result_url: str | None = None


class JobList(BaseModel):
    total: int
    limit: int
    offset: int
    jobs: list[JobSummary]


class JobResult(BaseModel):
    job_id: str
    result: Any


class QueueTotals(BaseModel):
    total_pending: int
    total_queued: int
    total_running: int
    total_completed: int
    total_failed: int
    total_cancelled: int
    priority_breakdown: dict[PriorityName, int]
    max_concurrent_jobs: int


class ClusterResources(BaseModel):
    total_memory_gb: float
    used_memory_gb: float
    available_memory_gb: float
    memory_usage_percent: float
    total_cores: float
    used_cores: float
    available_cores: float
    reserved_memory_gb: float


class ResourceUsageModel(BaseModel):
    cluster_resources: ClusterResources


class QueueStatusModel(BaseModel):
    model_config = ConfigDict(title="QueueStatus")
    scheduler_running: bool
    queue_status: QueueTotals
    resource_usage: ResourceUsageModel


# ---------------------------------------------------------------- datasets
class DatasetSummary(BaseModel):
    dataset_id: str
    name: str
    source: str
    format: str
    files: int
    size_mb: float
    columns: list[str]
    row_estimate: int
    created_at: float


class DatasetDetail(DatasetSummary):
    """Columns, dtypes, row estimate, size and partitions (the first 100 files)."""

    dtypes: dict[str, str]
    n_partitions: int
    partition_size_mb: float | None
    file_list: list[str]


class DatasetAccepted(Message):
    dataset_id: str
    dataset: DatasetSummary


class DatasetList(BaseModel):
    total: int
    datasets: list[DatasetSummary]


class DatasetDeleted(Message):
    dataset_id: str


class PartitionInfo(BaseModel):
    n_partitions: int
    columns: list[str]
    estimated_size_mb: float
    partition_size_mb: float


class DatasetPartitioned(Message):
    dataset_id: str
    partition_info: PartitionInfo
