"""Response models of the REST API: the JSON shapes the product documents and the dashboard read.

Each model lists the keys a route answers with today; the OpenAPI document (and the
schema test that fuzzes the API) check every response against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..jobs.model import JobStatus

__all__ = [
    "Alert",
    "AlertsView",
    "AutoscalingModel",
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
    "DeployAccepted",
    "DeploymentList",
    "DeploymentModel",
    "GPUAlertModel",
    "GPUAlerts",
    "GPUDevice",
    "GPUHistory",
    "GPUHost",
    "GPUSample",
    "GPUStatus",
    "GPUSummary",
    "Health",
    "InferenceResult",
    "JobAccepted",
    "JobDetail",
    "JobList",
    "JobResult",
    "JobSummary",
    "Message",
    "MetricsSample",
    "ModelVersionModel",
    "ModelVersions",
    "PartitionInfo",
    "QueueStatusModel",
    "QueueTotals",
    "ResourceUsageModel",
    "SessionState",
    "Snapshot",
    "StartHeadResponse",
    "Undeployed",
    "WorkerList",
    "WorkerModel",
    "WorkersStarted",
]

PriorityName = Literal["LOW", "NORMAL", "HIGH", "CRITICAL"]
# a reading as the device reports it: an integer stays an integer (87, not 87.0)
Number = int | float


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


class JobRetried(JobAccepted):
    retry_of: str = Field(description="the failed or cancelled job that was submitted again")


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
    waiting_reason: str | None = Field(None, description="why a queued job waits; null when not queued")


class PieceTraceback(BaseModel):
    piece: int
    attempt: int = Field(description="0 for the first run, 1 for the first retry, ...")
    text: str


class JobLogEntry(BaseModel):
    t: float = Field(description="when it was written (Unix time)")
    piece: int = Field(description="-1 for a note of pycluster's own")
    attempt: int = Field(description="0 for the first run, 1 for the first retry, ...")
    stream: Literal["stdout", "stderr", "log", "traceback", "piece", "pycluster"]
    text: str


class PieceRunModel(BaseModel):
    piece: int
    attempt: int
    started: float
    duration_s: float | None = Field(description="null while it runs")
    outcome: str = Field(description='"completed", "failed: <error type>" or "running"')


class JobLogs(BaseModel):
    """A page of a job's logs; ask again with ``offset=next_offset`` for newer entries."""

    job_id: str
    status: JobStatus
    offset: int
    next_offset: int
    size: int = Field(description="bytes stored for the job")
    capped: bool = Field(description="the job's log cap was reached; later output was dropped")
    entries: list[JobLogEntry]
    pieces: list[PieceRunModel] = Field(description="every run of every piece, with its duration")


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
    timeout_s: float | None = None
    retry_backoff_s: float | None = None
    result_ttl_s: float | None = None
    expires_at: str | None = Field(None, description="when the finished job and its result are deleted")
    retry_of: str | None = Field(None, description="the job this one submitted again")
    depends_on: list[str] = Field(default_factory=list, description="jobs that must complete first")
    run_at: str | None = Field(None, description="the job does not start before this time")
    schedule_id: str | None = Field(None, description="the cron schedule that fired this job")
    error: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    result: Any = None
    result_url: str | None = None
    tracebacks: list[PieceTraceback] | None = Field(
        None, description="the full worker traceback of each failed piece attempt"
    )


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


# ---------------------------------------------------------------- GPUs (/api/llm/gpu/*)
class GPUClocks(BaseModel):
    """Current clocks in MHz (null where the card does not say)."""

    sm: int | None
    memory: int | None
    graphics: int | None


class ECCErrors(BaseModel):
    corrected: int
    uncorrected: int


class GPUProcess(BaseModel):
    pid: int | None
    name: str | None
    type: str | None
    memory_used: float | None = Field(description="GB")
    memory_used_bytes: int | None


class GPUDevice(BaseModel):
    """One GPU as its worker reports it (sizes in GB, power in W, percentages 0-100), with the
    host it is on and the workers pinned to it. A field the card or driver cannot read is null."""

    id: int | None = None
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total: float | None = None
    memory_used: float | None = None
    memory_free: float | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_percent: float | None = None
    utilization: Number | None = None
    memory_utilization: Number | None = None
    temperature: Number | None = None
    power_usage: float | None = None
    power_limit: float | None = None
    power_percent: float | None = None
    fan_speed: Number | None = None
    clocks: GPUClocks | None = None
    performance_state: str | None = Field(None, examples=["P0"])
    throttle_reasons: list[str] | None = None
    ecc_errors: ECCErrors | None = Field(None, description="null without ECC")
    processes: list[GPUProcess] | None = None
    host: str | None = None
    hostname: str | None = None
    workers: list[str] | None = Field(None, description="names of the workers pinned to this GPU")


class GPUHostWorker(BaseModel):
    name: str
    address: str
    gpu_resources: float | None = Field(description="the worker's GPU resource, if it declares one")
    visible_devices: str | None
    reporting: bool = Field(description="whether the worker sends GPU readings")


class GPUHost(BaseModel):
    host: str
    hostname: str | None
    available: bool
    reason: str | None
    driver_version: str | None
    cuda_driver_version: Number | str | None
    workers: list[GPUHostWorker]
    gpus: list[GPUDevice]
    count: int


class GPUSummary(BaseModel):
    """Every worker machine's GPUs: flat (``gpus``) and per host; ``reason`` when there are none."""

    available: bool
    count: int
    reason: str | None
    gpus: list[GPUDevice]
    hosts: list[GPUHost]


class GPUSample(BaseModel):
    """One point of the GPU history: totals, and each GPU's essentials (``gpus``)."""

    timestamp: str
    time: float
    count: int
    avg_utilization: float | None
    memory_used: float = Field(description="GB, all GPUs")
    memory_total: float = Field(description="GB, all GPUs")
    max_temperature: Number | None
    power_usage: float = Field(description="W, all GPUs")
    gpus: list[GPUDevice]


class GPUAlertModel(BaseModel):
    """A temperature, power or memory alert of one GPU (``active`` until it falls 3 % below)."""

    model_config = ConfigDict(title="GPUAlert")
    id: int
    kind: Literal["temperature", "power", "memory"]
    level: str = Field(examples=["warning", "critical"])
    host: str | None
    gpu: int | None
    uuid: str | None
    name: str | None
    value: Number
    peak: Number
    threshold: Number
    setting: str = Field(description="the setting that holds the threshold")
    message: str
    raised_at: str
    time: float
    resolved_at: str | None
    active: bool


class GPUThresholdsModel(BaseModel):
    model_config = ConfigDict(title="GPUThresholds")
    temperature_warning: float
    temperature_critical: float
    power_fraction: float
    memory_fraction: float


class GPUStatus(BaseModel):
    summary: GPUSummary
    recent_metrics: list[GPUSample]
    alerts: list[GPUAlertModel] = Field(description="the active alerts")
    timestamp: str | None = Field(description="when the readings were taken; null without the service")
    interval: Number | None


class GPUHistory(BaseModel):
    seconds: float
    interval: Number | None
    samples: list[GPUSample]


class GPUAlerts(BaseModel):
    active: list[GPUAlertModel]
    alerts: list[GPUAlertModel]
    thresholds: GPUThresholdsModel | None = Field(description="null while the head runs no GPU service")


# ---------------------------------------------------------------- LLM deployments (/api/llm/models/*)
DeploymentState = Literal["loading", "ready", "failed", "undeployed", "stopped"]


class ReplicaDetail(BaseModel):
    index: int
    worker: str | None
    status: DeploymentState
    reason: str | None
    requests_in_flight: int
    restarts: int


class LatencyPercentiles(BaseModel):
    """Latency in ms over the last minute (null before any request)."""

    p50: float | None
    p95: float | None
    p99: float | None


class AutoscalingModel(BaseModel):
    """An autoscaling deployment's bounds and target, its load, and why it is not where the load asks."""

    min_replicas: int
    max_replicas: int
    target_ongoing_requests: float
    upscale_delay_s: float
    downscale_delay_s: float
    ongoing_requests: int = Field(description="Requests in flight now, waiting ones included")
    wanted_replicas: int | None = Field(description="What the load asks for, before min/max and the delays")
    reason: str | None = Field(description="Why it does not run wanted_replicas (delays, max, no room)")


class DeploymentModel(BaseModel):
    """A deployment: its settings, replicas and where they run, and its request metrics."""

    model_config = ConfigDict(title="Deployment", protected_namespaces=())
    deployment_id: str
    model_name: str
    status: DeploymentState
    reason: str | None
    notes: list[str]
    engine: str
    precision: str
    gpu_per_replica: int
    sharding_strategy: str | None
    batch_size: int
    max_sequence_length: int
    replicas: int
    replicas_ready: int
    replica_details: list[ReplicaDetail]
    created_at: float
    total_requests: int
    total_tokens: int
    requests_per_second: float
    tokens_per_second: float
    latency_ms: LatencyPercentiles
    autoscaling: AutoscalingModel | None = Field(None, description="null: a fixed number of replicas")
    name: str | None = Field(None, description="Requests name it so (by weight) or name@version")
    version: str | None = None
    traffic_weight: float | None = Field(None, description="Its weight in its name's traffic split")


class ModelVersionModel(BaseModel):
    version: str
    deployment_id: str
    status: DeploymentState
    weight: float


class ModelVersions(BaseModel):
    """A name's deployed versions and how its requests are split between them."""

    name: str
    versions: list[ModelVersionModel]


class DeployAccepted(Message):
    deployment_id: str
    deployment: DeploymentModel


class DeploymentList(BaseModel):
    deployments: list[DeploymentModel]


class Undeployed(BaseModel):
    deployment_id: str
    status: Literal["undeployed"]


class InferenceResult(BaseModel):
    """One completion (without ``stream``)."""

    model_config = ConfigDict(protected_namespaces=())
    text: str
    tokens_generated: int
    prompt_tokens: int
    finish_reason: str = Field(examples=["stop", "length"])
    batch_size: int = Field(description="requests in the forward batch this one ran in")
    engine_ms: float = Field(description="time in the model, without queueing or transfer")
    latency_ms: float
    deployment_id: str
    model_name: str
    replica: int


# ---------------------------------------------------------------- dashboard (/api/dashboard/*)
class Alert(BaseModel):
    id: int
    time: str
    rule: str
    level: str = Field(examples=["warning", "resolved", "info"])
    message: str
    value: float
    threshold: float
    count: int | None = Field(None, description="task_failures: failures in this burst so far")
    since: str | None = Field(None, description="task_failures: when the burst began")


class AlertsView(BaseModel):
    thresholds: dict[str, float] = Field(examples=[{"cluster_cpu": 0.9, "cluster_memory": 0.9}])
    active: list[str]
    recent: list[Alert]


class SnapshotClusterRunning(ClusterRunning):
    health: Literal["healthy", "degraded"]


class SnapshotClusterStopped(BaseModel):
    """No cluster yet (the standalone API): its name, and the dashboard's URL once it serves."""

    status: Literal["stopped"]
    health: Literal["stopped"]
    n_workers: int
    total_cores: int
    cluster_name: str
    dashboard_url: str | None = None


class TaskFailure(BaseModel):
    key: str
    error: str
    worker: str | None
    time: str


class TasksView(BaseModel):
    completed: int
    failed: int = Field(description="failures since the list was last cleared")
    failed_total: int
    running: int
    executing: int
    pending: int
    in_memory: int
    erred_held: int
    recent_failures: list[TaskFailure] = Field(description="newest first")


class JobRow(JobSummary):
    pieces_done: int
    pieces_total: int


class JobsView(BaseModel):
    totals: dict[JobStatus, int]
    waiting_by_priority: dict[PriorityName, int]
    max_concurrent_jobs: int
    total: int
    jobs: list[JobRow] = Field(description="the newest jobs")
    paused: bool = Field(False, description="dispatch is paused: queued jobs wait until it resumes")


class Snapshot(BaseModel):
    """One frame of the live feed. ``tasks``, ``alerts`` are null on a head without the metrics
    service, ``jobs`` without the jobs service, and all three before the cluster starts."""

    time: str
    version: str
    interval: Number = Field(description="seconds between frames")
    cluster: Annotated[SnapshotClusterRunning | SnapshotClusterStopped, Field(discriminator="status")]
    workers: list[WorkerModel]
    tasks: TasksView | None
    metrics: list[MetricsSample]
    alerts: AlertsView | None
    jobs: JobsView | None


# ---------------------------------------------------------------- session (/api/auth/session)
class SessionState(BaseModel):
    authenticated: bool
    token_required: bool


# ---------------------------------------------------------------- adaptive scaling (/api/processing/cluster)
class AdaptiveModel(BaseModel):
    enabled: bool
    minimum: int | None = Field(description="null while adaptive scaling is off")
    maximum: int | None
    target: int | None = Field(description="the workers the last check asked for; null before the first")
    workers: int = Field(description="workers connected now")


class AutoscaleResponse(BaseModel):
    message: str
    adaptive: AdaptiveModel


class ScalingSignals(BaseModel):
    workers: int
    threads: int
    queued_tasks: int
    processing_tasks: int
    waiting_jobs: int
    job_cores: Number
    cpu_percent: Number
    memory_percent: Number
    dask_target: int
    max_workers: int = Field(description="what this machine's memory holds")


class ScalingRecommendation(BaseModel):
    action: Literal["scale_up", "scale_down", "none"]
    workers: int = Field(description="the advised total number of workers")
    current_workers: int
    reason: str
    signals: ScalingSignals
    adaptive: AdaptiveModel
