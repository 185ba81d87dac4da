"""/api/llm/models/*: deploy, list, inspect, scale, stop, start, restart, undeploy and query models
(PyCluster v2: "Control Actions: Start, stop, restart, scale models")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ...errors import ClusterNotRunningError
from ...llm.cancel import CancelToken
from ...llm.manager import LLMClusterManager
from ..deps import ERROR_RESPONSES, head
from ..disconnect import unless_disconnected
from ..models import (
    DeployAccepted,
    DeploymentList,
    DeploymentModel,
    InferenceResult,
    ModelVersions,
    Undeployed,
)
from ..sse import EventStreamResponse, sse_lines

__all__ = ["InferenceOptions", "llm_manager", "router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["llm"])

AdapterName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
AdapterPath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Precision = Literal["fp32", "fp16", "bf16", "int8", "int4"]  # BYTES_PER_PARAMETER's keys


class DeployRequest(BaseModel):
    """The arguments of ``LLMClusterManager.deploy_model``; ``wait`` blocks until a replica is ready."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model_name: str = Field(
        min_length=1, max_length=1000, examples=["deepseek-ai/deepseek-coder-7b-instruct-v1.5"]
    )
    model_size: str | None = Field(None, min_length=1, max_length=20, examples=["7b"])
    precision: Precision | None = Field(
        None,
        description="None: the head's llm.default_precision (PYCLUSTER_DEFAULT_PRECISION, fp16 unless set)",
    )
    gpu_per_replica: int = Field(1, ge=0, le=64)
    replicas: int = Field(1, ge=1, le=256)
    sharding_strategy: Literal["tensor_parallel", "pipeline_parallel"] | None = None
    max_memory_per_gpu: (
        Annotated[float, Field(gt=0, le=10_000)] | Annotated[str, Field(max_length=20)] | None
    ) = Field(None, description='GB, or a size such as "12GB"', examples=["12GB", 12])
    batch_size: int = Field(8, ge=1, le=1024)
    max_sequence_length: int = Field(2048, ge=1, le=1_048_576)
    engine: Literal["auto", "transformers", "vllm"] = "auto"
    name: str | None = Field(
        None, min_length=1, max_length=1000, description="Default model_name; requests may say name@version"
    )
    version: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[^@]+$", description="Default: the next number"
    )
    autoscaling: AutoscalingRequest | None = Field(
        None, description="Follow the load between min_replicas and max_replicas (replaces replicas)"
    )
    adapters: dict[AdapterName, AdapterPath] | None = Field(
        None,
        max_length=64,
        description="LoRA adapters every replica loads, name -> folder saved with peft's save_pretrained "
        "(as POST /api/llm/models/{id}/adapters takes them). The answer waits for the first replica; "
        "an adapter that does not fit the base model is a 422 naming adapters.<name>, nothing deployed",
        examples=[{"sql": "/models/adapters/sql"}],
    )
    wait: bool = Field(False, description="Answer only once a replica is ready (or has failed)")


class AutoscalingRequest(BaseModel):
    """Ray Serve's autoscaling_config: replicas follow the requests in flight, within the bounds."""

    model_config = ConfigDict(extra="forbid")
    min_replicas: int = Field(1, ge=0, le=256, description="0: scale to zero when idle")
    max_replicas: int = Field(1, ge=1, le=256)
    target_ongoing_requests: float = Field(2.0, gt=0, le=100_000, description="In flight per replica")
    upscale_delay_s: float = Field(30.0, ge=0, le=86_400)
    downscale_delay_s: float = Field(600.0, ge=0, le=86_400)


class InferenceOptions(BaseModel):
    """How to sample one completion (shared by the REST and OpenAI endpoints)."""

    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(128, ge=1, le=1_000_000)
    temperature: float = Field(0.0, ge=0, le=100)
    top_p: float = Field(1.0, gt=0, le=1)
    stop_sequences: list[str] | None = Field(None, max_length=16)
    # 2**53 - 1: the largest integer every JSON parser reads exactly (doubles past it are not)
    seed: int | None = Field(None, ge=0, le=2**53 - 1)


class InferenceRequest(InferenceOptions):
    prompt: str = Field(max_length=500_000, examples=["Write a Python function to calculate fibonacci:"])
    stream: bool = Field(False, description="Answer with server-sent events, one per piece of text")


class TrafficRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=1000)
    weights: dict[str, float] = Field(min_length=1, max_length=100, examples=[{"1": 90, "2": 10}])


class NameRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=1000)


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replicas: int = Field(ge=1, le=256)


# with ``stream``: server-sent events instead of the JSON answer
STREAM_SCHEMA = {
    "type": "string",
    "description": 'events: data: {"text": ...} per piece, then data: {"done": true, "result": {...}}',
}


def llm_manager(request: Request) -> LLMClusterManager:
    """The head's LLMClusterManager, or a 503 that says how to turn LLM serving on."""
    manager = head(request).services.get("llm")
    if not isinstance(manager, LLMClusterManager):
        raise ClusterNotRunningError(
            "LLM serving is not running on this head: start the head with the 'llm' service "
            "(the default set of services includes it)"
        )
    return manager


@router.post(
    "/deploy",
    status_code=202,
    response_model=DeployAccepted,
    responses={201: {"model": DeployAccepted, "description": "The model is ready (with ``wait``)"}},
)
def deploy_model(body: DeployRequest, request: Request) -> JSONResponse:
    """Load a model on the cluster's workers. Answers 202 while replicas load (poll
    ``GET /api/llm/models/{id}``), or 201 once ready when ``wait`` is true."""
    options = body.model_dump(exclude={"wait"})
    manager = llm_manager(request)
    deployment_id = manager.deploy_model(**options, wait=body.wait)
    deployment = manager.deployment(deployment_id)
    answer = DeployAccepted(
        message="Deployment started",
        deployment_id=deployment_id,
        deployment=DeploymentModel.model_validate(deployment.to_dict()),
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if body.wait else 202)


@router.get("", response_model=DeploymentList)
def list_models(request: Request) -> DeploymentList:
    """Every deployment: status, replicas and where they run, requests/s, tokens/s, latency."""
    deployments = llm_manager(request).deployments()
    return DeploymentList(deployments=[DeploymentModel.model_validate(d.to_dict()) for d in deployments])


def _versions(name: str, versions: list[Any]) -> ModelVersions:
    return ModelVersions.model_validate({"name": name, "versions": [v.to_dict() for v in versions]})


# declared before /{deployment_id}: "versions" is no deployment id
@router.get("/versions", response_model=ModelVersions)
def list_versions(name: str, request: Request) -> ModelVersions:
    """The deployed versions of ``name`` and each one's share of its requests."""
    return _versions(name, llm_manager(request).versions(name))


@router.put("/traffic", response_model=ModelVersions)
def set_traffic(body: TrafficRequest, request: Request) -> ModelVersions:
    """Split ``name``'s requests between its versions by weight (``{"1": 90, "2": 10}``)."""
    return _versions(body.name, llm_manager(request).set_traffic(body.name, body.weights))


@router.post("/rollback", response_model=ModelVersions)
def rollback(body: NameRequest, request: Request) -> ModelVersions:
    """Put back ``name``'s traffic split from before its last change."""
    return _versions(body.name, llm_manager(request).rollback(body.name))


@router.get("/{deployment_id}", response_model=DeploymentModel)
def get_model(deployment_id: str, request: Request) -> DeploymentModel:
    """One deployment (``status`` is loading, ready or failed with ``reason``)."""
    return DeploymentModel.model_validate(llm_manager(request).deployment(deployment_id).to_dict())


@router.post(
    "/{deployment_id}/inference",
    response_model=InferenceResult,
    responses={200: {"content": {"text/event-stream": {"schema": STREAM_SCHEMA}}}},
)
async def inference(
    deployment_id: str, body: InferenceRequest, request: Request
) -> InferenceResult | StreamingResponse:
    """Generate a completion: ``text``, ``tokens_generated``, ``latency_ms``, ``finish_reason``.
    With ``stream`` the answer is server-sent events ``{"text": ...}`` then ``{"done": true, ...}``.
    A client that disconnects before its answer ends its generation (``web/disconnect.py``)."""
    return await unless_disconnected(request, lambda token: _inference(deployment_id, body, request, token))


def _inference(
    deployment_id: str, body: InferenceRequest, request: Request, cancel: CancelToken
) -> InferenceResult | StreamingResponse:
    manager = llm_manager(request)
    options = body.model_dump(exclude={"prompt", "stream"})
    if not body.stream:
        result = manager.generate(deployment_id, body.prompt, cancel=cancel, **options)
        return InferenceResult.model_validate(result.to_dict())
    events = manager.stream_events(deployment_id, body.prompt, **options)
    first = next(events)  # errors (unknown deployment, prompt too long) become 4xx, not a broken stream
    rest = (e.to_dict() for e in events)
    return EventStreamResponse(sse_lines(first.to_dict(), rest, source=events))


@router.post("/{deployment_id}/scale", response_model=DeploymentModel)
def scale_model(deployment_id: str, body: ScaleRequest, request: Request) -> DeploymentModel:
    """Add or remove replicas; new ones load in the background."""
    return DeploymentModel.model_validate(
        llm_manager(request).rescale(deployment_id, body.replicas).to_dict()
    )


@router.post("/{deployment_id}/stop", response_model=DeploymentModel)
def stop_model(deployment_id: str, request: Request) -> DeploymentModel:
    """Stop every replica (their memory is freed); the deployment stays listed as ``stopped``
    with its settings, and requests to it answer 409 until it is started again."""
    return DeploymentModel.model_validate(llm_manager(request).stop_deployment(deployment_id).to_dict())


@router.post("/{deployment_id}/start", response_model=DeploymentModel)
def start_model(deployment_id: str, request: Request) -> DeploymentModel:
    """Load a stopped deployment's replicas again (409 unless it is stopped); they load in the
    background: poll ``GET /api/llm/models/{id}`` until ``ready``."""
    return DeploymentModel.model_validate(llm_manager(request).start_deployment(deployment_id).to_dict())


@router.post("/{deployment_id}/restart", response_model=DeploymentModel)
def restart_model(deployment_id: str, request: Request) -> DeploymentModel:
    """Stop every replica and load them again with the same settings (e.g. after the model's
    files changed); requests meanwhile wait for the new replicas (it is ``loading`` throughout)."""
    return DeploymentModel.model_validate(llm_manager(request).restart_deployment(deployment_id).to_dict())


@router.delete("/{deployment_id}", response_model=Undeployed)
def undeploy_model(deployment_id: str, request: Request) -> Undeployed:
    """Stop every replica and forget the deployment."""
    return Undeployed.model_validate(llm_manager(request).remove(deployment_id).to_dict())
