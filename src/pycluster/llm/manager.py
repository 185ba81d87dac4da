"""LLMClusterManager: deploy models as replicas (Dask actors) on workers, and serve requests.

>>> llm = LLMClusterManager(head.cluster_manager)                       # doctest: +SKIP
>>> dep = llm.deploy_model("/models/tiny-gpt2", gpu_per_replica=0)       # doctest: +SKIP
>>> llm.inference(dep, "def add(a, b):", max_tokens=16)["text"]         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..config import GPUSettings, LLMSettings
from ..errors import (
    ClusterError,
    ConfigError,
    DeploymentNotFoundError,
    DeploymentStateError,
    InferenceRequestError,
    LLMError,
    ModelDoesNotFitError,
)
from .actor_calls import ReplicaCall, call_replica
from .adapters import check_adapter_name
from .autoscaling import AutoscalingConfig
from .cancel import CancelToken
from .deployment import Deployment, ReplicaHandle
from .engines import GenerationRequest
from .models import resolve_model
from .placement import Placement, cpu_fallback, place_replicas
from .replica import ModelReplica
from .resources import LLMResourceManager, memory_gb, parse_model_size
from .results import (
    DeploymentInfo,
    Generation,
    InferenceResult,
    ReplicaCounters,
    StreamEnd,
    StreamEvent,
    StreamText,
    Undeployed,
)
from .routing import PrefixRouter
from .scaling import ScalingLoop
from .spec import DeploymentStatus, ModelSpec
from .store import DeploymentStore
from .versioning import VersionRouting
from .versions import Traffic

if TYPE_CHECKING:
    from ..cluster.manager import ClusterManager

__all__ = ["LLMClusterManager"]

_ANSWER_GRACE = 10.0  # seconds

log = logging.getLogger(__name__)


class _State:
    """Deployments shared by every LLMClusterManager of one head (Python API and REST alike)."""

    def __init__(self, store: DeploymentStore | None) -> None:
        self.store = store
        self.deployments: dict[str, Deployment] = {}
        self.lock = threading.RLock()
        self.scaling: ScalingLoop | None = None  # started with the first autoscaling deployment
        self.traffic: dict[str, Traffic] = {}  # name -> its versions' weights
        self.router = PrefixRouter()


class LLMClusterManager(VersionRouting):
    """Deploys models on a cluster and runs inference on them (see the module docstring)."""

    def __init__(
        self,
        cluster_manager: ClusterManager,
        store: DeploymentStore | None = None,
        cache_dir: str | None = None,
        request_timeout: float | None = None,
        settings: LLMSettings | None = None,
        gpu_settings: GPUSettings | None = None,
    ) -> None:
        self.cluster_manager = cluster_manager
        head = cluster_manager.head
        shared = head.services.get("llm") if head is not None and store is None else None
        self._state: _State = shared._state if shared is not None else _State(store)
        # the head's settings (pycluster.yaml, PYCLUSTER_*), else the defaults
        llm = settings or (head.settings.llm if head is not None else LLMSettings())
        gpu = gpu_settings or (head.settings.gpu if head is not None else GPUSettings())
        self.cache_dir = cache_dir or llm.model_cache_dir
        self.request_timeout = request_timeout or llm.request_timeout
        self.default_precision = llm.default_precision
        self.max_model_size = llm.max_model_size
        self.max_concurrent_requests: int | None = llm.max_concurrent_requests
        self.memory_fraction = gpu.memory_fraction

    # ------------------------------------------------------------------ deploy
    def deploy_model(
        self,
        model_name: str,
        model_size: str | None = None,
        precision: str | None = None,
        gpu_per_replica: int = 1,
        replicas: int = 1,
        sharding_strategy: str | None = None,
        max_memory_per_gpu: float | str | None = None,
        batch_size: int = 8,
        max_sequence_length: int = 2048,
        engine: str = "auto",
        wait: bool = True,
        autoscaling: AutoscalingConfig | Mapping[str, Any] | None = None,
        name: str | None = None,
        version: str | None = None,
        adapters: dict[str, str] | None = None,
    ) -> str:
        """Load ``model_name`` on ``replicas`` workers; returns the deployment id.

        With ``wait`` (default) it returns once a replica is ready, or raises with the reason.
        ``precision`` None: ``llm.default_precision`` (PYCLUSTER_DEFAULT_PRECISION, fp16 unless set);
        ``max_memory_per_gpu``: GB, or a size such as "12GB". ``autoscaling`` (an
        :class:`AutoscalingConfig` or its fields) replaces ``replicas``: the deployment starts
        with ``max(1, min_replicas)`` and follows its load (see ``llm/autoscaling.py``).
        ``name`` (default ``model_name``) and ``version`` (default: the next number) make it
        ``name@version``; a new version of a name gets no traffic until ``set_traffic``.
        ``adapters`` (name -> peft folder) are loaded by every replica; with them the call waits
        for the first replica to load even without ``wait``, and an adapter that does not fit the
        base model is an InferenceRequestError naming ``adapters.<name>``, nothing left deployed.
        """
        name = name or model_name
        version = self._new_version(name, version)
        if isinstance(autoscaling, AutoscalingConfig):
            autoscaling = autoscaling.to_dict()
        elif autoscaling is not None:  # a bad field is a ConfigError here, before anything starts
            autoscaling = AutoscalingConfig.from_dict(autoscaling).to_dict()
        if autoscaling is not None:
            replicas = AutoscalingConfig.from_dict(autoscaling).initial_replicas
        spec = ModelSpec(
            model_name,
            model_size,
            precision or self.default_precision,
            gpu_per_replica,
            replicas,
            sharding_strategy,
            None if max_memory_per_gpu is None else memory_gb(max_memory_per_gpu, "max_memory_per_gpu"),
            batch_size,
            max_sequence_length,
            engine,
            memory_fraction=self.memory_fraction,
            autoscaling=dict(autoscaling) if autoscaling is not None else None,
            name=name,
            version=version,
            adapters=dict(adapters or {}),  # LoRA adapters every replica loads (name -> peft folder)
        )
        for adapter_name in spec.adapters:
            check_adapter_name(adapter_name)
        if not spec.adapters:
            return self._deploy(spec, secrets.token_hex(6), wait)
        # whether an adapter fits its base is known only once a replica has loaded both: wait for
        # the first outcome, and take a deployment whose adapter does not fit away again
        deployment_id = self._deploy(spec, secrets.token_hex(6), wait=False)
        dep = self._get(deployment_id)
        if dep.wait(self.request_timeout) == DeploymentStatus.FAILED:
            misfit = next((r.error for r in dep.replicas if _adapter_error(r.error)), None)
            if misfit is not None:
                self.remove(deployment_id)
                raise InferenceRequestError(str(misfit))
        if wait:
            self._wait_ready(dep)
        return deployment_id

    def _deploy(self, spec: ModelSpec, deployment_id: str, wait: bool, dep: Deployment | None = None) -> str:
        """Place and start the replicas; ``dep`` is the listed placeholder of a restored deployment."""
        spec.model_path = resolve_model(spec.model_name, self.cache_dir)
        self._check_size(spec)
        cpu_fallback(spec, self._identity())
        placements = place_replicas(spec, spec.replicas, self._identity(), self._taken(), set())
        if dep is None:
            dep = Deployment(deployment_id, spec)
        with self._state.lock:
            self._state.deployments[dep.id] = dep
            dep.replicas = [ReplicaHandle(i) for i in range(len(placements))]
            if dep.autoscaler is not None and self._state.scaling is None:
                self._state.scaling = ScalingLoop(self._listed, self._add_replicas, self._remove_idle)
            self._first_version_takes_traffic(dep)
        self._save(dep)
        log.info("deployment %s (%s) deploying %d replica(s)", dep.id, dep.spec.model_name, len(placements))
        for handle, placement in zip(dep.replicas, placements):
            self._start_replica(dep, handle, placement)
        if not placements:  # restored while scaled to zero: ready, its next request starts a replica
            dep.refresh_status()
        if wait:
            self._wait_ready(dep)
        return dep.id

    def _check_size(self, spec: ModelSpec) -> None:
        """Refuse a model over ``llm.max_model_size`` (PYCLUSTER_MAX_MODEL_SIZE) before anything loads."""
        if self.max_model_size is None:
            return
        limit = parse_model_size(self.max_model_size)
        estimate = LLMResourceManager().estimate(
            spec.model_size,
            spec.precision,
            1,
            spec.max_sequence_length,
            spec.gpu_per_replica,
            spec.model_path,
        )
        if estimate.parameters > limit:
            raise ModelDoesNotFitError(
                f"{spec.model_name} has ~{estimate.parameters / 1e9:.3g}B parameters, over the "
                f"{self.max_model_size} allowed (llm.max_model_size / PYCLUSTER_MAX_MODEL_SIZE)"
            )

    def _start_replica(self, dep: Deployment, handle: ReplicaHandle, placement: Placement) -> None:
        handle.worker, handle.status, handle.reason = placement.worker, DeploymentStatus.LOADING, None
        handle.future = self.cluster_manager.client.submit(
            ModelReplica,
            dep.spec.as_dict(),
            self.cache_dir,
            placement.on_gpu,
            actor=True,
            workers=[placement.worker],
            allow_other_workers=False,
            resources=placement.resources,
            pure=False,
            key=f"llm-replica-{dep.id}-{handle.index}-{secrets.token_hex(3)}",
        )
        threading.Thread(target=self._await_load, args=(dep, handle, handle.future), daemon=True).start()

    def _await_load(self, dep: Deployment, handle: ReplicaHandle, future: Any) -> None:
        try:
            actor = future.result()
        except Exception as exc:
            if handle.future is future:
                handle.status, handle.reason = DeploymentStatus.FAILED, f"{type(exc).__name__}: {exc}"
                handle.error = exc
                log.info("deployment %s replica %d failed: %s", dep.id, handle.index, handle.reason)
        else:
            if handle.future is future:
                handle.actor, handle.status = actor, DeploymentStatus.READY
                log.info("deployment %s replica %d ready on %s", dep.id, handle.index, handle.worker)
        dep.refresh_status()
        self._save(dep)

    def _wait_ready(self, dep: Deployment, timeout: float | None = None) -> None:
        status = dep.wait(timeout or self.request_timeout)
        if status == DeploymentStatus.FAILED:
            raise DeploymentStateError(f"deployment {dep.id} ({dep.spec.model_name}) failed: {dep.reason}")
        if status == DeploymentStatus.STOPPED:
            raise DeploymentStateError(f"deployment {dep.id} was stopped: start it first")
        if status != DeploymentStatus.READY:
            raise DeploymentStateError(f"deployment {dep.id} is still {status.value}: try again shortly")

    # ------------------------------------------------------------------ inference
    def generate(
        self,
        deployment_id: str,
        prompt: str | None = None,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop_sequences: list[str] | None = None,
        seed: int | None = None,
        messages: list[dict[str, str]] | None = None,
        json_schema: dict[str, Any] | None = None,
        adapter: str | None = None,
        cancel: CancelToken | None = None,
    ) -> InferenceResult:
        """Generate a completion (``inference`` is this as the documented dict); ``json_schema``
        constrains the text to JSON matching it, ``adapter`` names one of the deployment's LoRA adapters.
        ``cancel`` fired (its caller went away) ends the row at its replica's next decode step."""
        request = _request(prompt, messages, max_tokens, temperature, top_p, stop_sequences, seed)
        request.json_schema, request.adapter = json_schema, adapter
        request = self._with_deadline(request)
        dep = self._ready(deployment_id)
        started = time.monotonic()
        with dep.admitted(self.max_concurrent_requests):
            answer, handle = self._call(
                dep,
                lambda h: self._generate_on(h, request, cancel),
                prefix=self._state.router.key(request, dep.id),
            )
        generation = Generation.from_replica(answer, (time.monotonic() - started) * 1000)
        dep.metrics.record(generation.tokens_generated, generation.latency_ms)
        return InferenceResult(
            **vars(generation), deployment_id=dep.id, model_name=dep.spec.model_name, replica=handle.index
        )

    def _generate_on(
        self, handle: ReplicaHandle, request: GenerationRequest, cancel: CancelToken | None
    ) -> ReplicaCall:
        call = self._send(handle, "generate", request.as_dict())
        if cancel is not None:  # a cancel goes to the replica this call went to, after the call
            request_id = request.request_id or ""
            cancel.on_cancel(lambda: self._cancel(handle, request_id))
        return call

    def inference(
        self,
        deployment_id: str,
        prompt: str | None = None,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop_sequences: list[str] | None = None,
        seed: int | None = None,
        messages: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Generate a completion: ``{"text", "tokens_generated", "latency_ms", "finish_reason", ...}``."""
        return self.generate(
            deployment_id, prompt, max_tokens, temperature, top_p, stop_sequences, seed, messages
        ).to_dict()

    def stream_events(
        self, deployment_id: str, prompt: str | None = None, **options: Any
    ) -> Generator[StreamEvent, None, None]:
        """Stream one request: :class:`StreamText` pieces, then one :class:`StreamEnd`."""
        request = _request(
            prompt,
            options.get("messages"),
            options.get("max_tokens", 128),
            options.get("temperature", 0.0),
            options.get("top_p", 1.0),
            options.get("stop_sequences"),
            options.get("seed"),
        )
        request.json_schema, request.adapter = options.get("json_schema"), options.get("adapter")
        request = self._with_deadline(request)
        dep = self._ready(deployment_id)
        with dep.admitted(self.max_concurrent_requests):
            yield from self._stream(dep, request)

    def _stream(self, dep: Deployment, request: GenerationRequest) -> Generator[StreamEvent, None, None]:
        started = time.monotonic()
        # the handle stays counted in flight until the stream ends (no scale-down from under it)
        stream_id, handle = self._call(
            dep,
            lambda h: self._send(h, "start_stream", request.as_dict()),
            hold=True,
            prefix=self._state.router.key(request, dep.id),
        )
        done = False
        try:
            while not done:
                chunk = self._send(handle, "read_stream", stream_id).result(self.request_timeout)
                if chunk["text"]:
                    yield StreamText(chunk["text"])
                done = bool(chunk["done"])
            generation = Generation.from_replica(chunk["result"], (time.monotonic() - started) * 1000)
            dep.metrics.record(generation.tokens_generated, generation.latency_ms)
            yield StreamEnd(generation)
        finally:
            handle.inflight -= 1
            if not done:  # the reader went away (a closed SSE stream): free its row on the replica
                self._cancel(handle, stream_id)

    def _cancel(self, handle: ReplicaHandle, request_id: str) -> None:
        """Ask the replica to drop ``request_id`` at its next decode step, without waiting for it."""
        with contextlib.suppress(Exception):  # its worker may be gone, which ends the row too
            self._send(handle, "cancel", request_id)

    def stream(
        self, deployment_id: str, prompt: str | None = None, **options: Any
    ) -> Iterator[dict[str, Any]]:
        """Stream one request: ``{"text": delta}`` chunks, then ``{"done": True, "result": {...}}``."""
        events = self.stream_events(deployment_id, prompt, **options)
        try:
            for event in events:
                yield event.to_dict()
        finally:  # a reader that stops early ends the replica's stream too
            events.close()

    def _with_deadline(self, request: GenerationRequest) -> GenerationRequest:
        """Name the request (so it can be cancelled) and give it llm.request_timeout on the replica:
        past it, its row ends with finish_reason "timeout" instead of running on for nobody."""
        request.request_id = secrets.token_hex(8)
        request.timeout = self.request_timeout
        return request

    def _call(
        self, dep: Deployment, method: Any, hold: bool = False, prefix: str | None = None
    ) -> tuple[Any, ReplicaHandle]:
        """Call the least busy ready replica (or the one holding the prompt's ``prefix``, see
        routing.py); a replica whose worker died is redeployed, then retried.
        ``hold``: the answer's replica stays counted in flight (the caller takes one off at its end)."""
        for attempt in range(2):
            handle = self._pick(dep, prefix)
            answered = False
            try:
                # a little longer than the replica's own deadline, so its "timeout" answer arrives
                answer = method(handle).result(self.request_timeout + _ANSWER_GRACE)
                answered = True
                return answer, handle
            except (LLMError, ConfigError, ValueError, KeyError):
                raise
            except Exception:
                if attempt or self._worker_alive(handle.worker):
                    raise
                self._redeploy(dep, handle)
            finally:
                if not (hold and answered):
                    handle.inflight -= 1
        raise DeploymentStateError(f"deployment {dep.id} has no replica that answers")  # pragma: no cover

    def _send(self, handle: ReplicaHandle, method: str, *args: Any) -> ReplicaCall:
        """Call the replica's ``method``: straight to its worker from a head (see actor_calls)."""
        client = self.cluster_manager.client
        direct = bool(client.direct_to_workers) or self.cluster_manager.head is not None
        # once its worker is lost the actor's future says so at once, while a direct connect
        # would retry the dead address until the connect timeout: the proxy fails fast there
        direct = direct and getattr(handle.future, "status", None) == "finished"
        return call_replica(client, handle.actor, handle.worker or "", method, *args, direct=direct)

    def _pick(self, dep: Deployment, prefix: str | None = None) -> ReplicaHandle:
        """The least busy ready replica (or the one holding ``prefix``), counted in flight; waits
        (llm.request_timeout) for one to load, starting one first when an autoscaling deployment
        is scaled to zero."""
        deadline = time.monotonic() + self.request_timeout
        while True:
            with dep.routing:
                ready = [r for r in dep.replicas if r.status == DeploymentStatus.READY]
                if ready:
                    handle = self._state.router.pick(ready, prefix)
                    handle.inflight += 1
                    return handle
            if dep.status == DeploymentStatus.STOPPED:
                raise DeploymentStateError(f"deployment {dep.id} is stopped: start it first")
            if not dep.replicas and dep.autoscaler is not None:
                self._scale_from_zero(dep)
            if dep.status == DeploymentStatus.FAILED:
                self._wait_ready(dep, 0)  # raises, saying why
            if time.monotonic() > deadline:
                raise DeploymentStateError(f"deployment {dep.id} has no ready replica yet: try again shortly")
            dep.wait_changed(min(1.0, max(0.0, deadline - time.monotonic())))

    # ------------------------------------------------------------------ autoscaling
    def _listed(self) -> list[Deployment]:
        """The deployments the autoscaler looks after: a stopped one stays stopped until started."""
        with self._state.lock:
            return [d for d in self._state.deployments.values() if d.status != DeploymentStatus.STOPPED]

    def _scale_from_zero(self, dep: Deployment) -> None:
        """A request came to a deployment scaled to zero: start a replica now (the request waits)."""
        with dep.scaling:
            if dep.replicas or dep.status == DeploymentStatus.STOPPED:
                return  # another request started it meanwhile, or it was stopped (the caller sees that)
            reason = self._add_replicas(dep, 1)
            dep.scaling_reason = reason
        if reason is not None:
            raise DeploymentStateError(f"deployment {dep.id} is scaled to zero and {reason}")

    def _add_replicas(self, dep: Deployment, count: int) -> str | None:
        """Start ``count`` more replicas where placement finds room; else nothing is attempted
        and the answer says why (which the deployment then shows)."""
        avoid = {r.worker for r in dep.replicas if r.worker}
        identity = self._identity()
        try:
            placements = place_replicas(dep.spec, count, identity, self._taken(), avoid)
        except (ClusterError, ModelDoesNotFitError) as exc:
            return f"cannot place another replica: {exc}"
        full = self._gpus_held(identity, dep.spec.gpu_per_replica, placements)
        if full is not None:
            return f"cannot place another replica: {full}"
        with dep.routing:  # a failed replica is replaced, not kept beside its successor
            failed = [r for r in dep.replicas if r.status == DeploymentStatus.FAILED]
            for handle in failed:
                dep.replicas.remove(handle)
        for handle in failed:
            self._stop_replica(handle)
        for placement in placements:
            handle = ReplicaHandle(max((r.index for r in dep.replicas), default=-1) + 1)
            dep.replicas.append(handle)
            self._start_replica(dep, handle, placement)
        self._resized(dep)
        return None

    def _gpus_held(self, identity: Mapping[str, Any], need: int, placements: list[Placement]) -> str | None:
        """Why ``placements`` cannot start: a chosen worker's GPUs are all held by live replicas
        (GPU memory readings do not show a replica that has not filled its memory yet, and Dask
        would queue the replica behind the worker's GPU resource for ever). None when they fit."""
        if need == 0:
            return None
        held: Counter[str] = Counter()
        with self._state.lock:
            for d in self._state.deployments.values():
                for r in d.replicas:
                    if r.worker and r.status in (DeploymentStatus.LOADING, DeploymentStatus.READY):
                        held[r.worker] += d.spec.gpu_per_replica
        workers = identity.get("workers") or {}
        for placement in placements:
            total = float((workers.get(placement.worker, {}).get("resources") or {}).get("GPU", 0))
            if total - held[placement.worker] < need:
                return (
                    f"the GPUs of worker {placement.worker} ({total:g}) are held by replicas already; "
                    "add GPU workers or lower max_replicas"
                )
            held[placement.worker] += need
        return None

    def _remove_idle(self, dep: Deployment, count: int) -> None:
        """Stop up to ``count`` replicas that serve nothing: loading or failed ones first, then idle ones."""
        with dep.routing:  # no request picks one of them meanwhile
            idle = [r for r in dep.replicas if r.status != DeploymentStatus.READY or r.inflight == 0]
            idle.sort(key=lambda r: (r.status == DeploymentStatus.READY, -r.index))
            gone = idle[:count]
            for handle in gone:
                dep.replicas.remove(handle)
        for handle in gone:
            self._stop_replica(handle)
        self._resized(dep)

    def _resized(self, dep: Deployment) -> None:
        dep.spec.replicas = len(dep.replicas)
        dep.refresh_status()
        self._save(dep)

    def _worker_alive(self, address: str | None) -> bool:
        return address in (self._identity().get("workers") or {})

    def _redeploy(self, dep: Deployment, handle: ReplicaHandle) -> None:
        """The replica's worker is gone: load the model again on a live worker and wait for it."""
        old = handle.future
        handle.actor, handle.status, handle.restarts = None, DeploymentStatus.LOADING, handle.restarts + 1
        dep.refresh_status()
        if old is not None:
            old.release()
        placement = place_replicas(dep.spec, 1, self._identity(), self._taken(), set())[0]
        self._start_replica(dep, handle, placement)
        self._wait_ready(dep)

    # ------------------------------------------------------------------ manage
    def deployments(self) -> list[DeploymentInfo]:
        with self._state.lock:
            deployments = list(self._state.deployments.values())
        return [d.info() for d in deployments]

    def list_deployments(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.deployments()]

    def deployment(self, deployment_id: str) -> DeploymentInfo:
        return self._get(deployment_id).info()

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.deployment(deployment_id).to_dict()

    def replica_counters(self, deployment_id: str) -> list[ReplicaCounters]:
        """Each ready replica's batching counters (forward batches, largest batch, device)."""
        dep = self._get(deployment_id)
        return [
            ReplicaCounters.from_replica(r.index, self._send(r, "stats").result(30))
            for r in dep.replicas
            if r.status == DeploymentStatus.READY
        ]

    def replica_stats(self, deployment_id: str) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.replica_counters(deployment_id)]

    def scale(self, deployment_id: str, replicas: int) -> dict[str, Any]:
        """Add or remove replicas (at least 1)."""
        return self.rescale(deployment_id, replicas).to_dict()

    def rescale(self, deployment_id: str, replicas: int) -> DeploymentInfo:
        """``scale``, answering the typed deployment."""
        if replicas < 1:
            raise ConfigError(f"replicas must be at least 1, got {replicas} (use undeploy to remove it)")
        dep = self._get(deployment_id)
        if dep.autoscaler is not None:
            config = dep.autoscaler.config
            raise DeploymentStateError(
                f"deployment {dep.id} autoscales between {config.min_replicas} and {config.max_replicas} "
                "replicas by its load: it cannot be scaled by hand"
            )
        if dep.status == DeploymentStatus.STOPPED:  # remembered for the next start
            dep.spec.replicas = replicas
            self._save(dep)
            return dep.info()
        while len(dep.replicas) > replicas:
            self._stop_replica(dep.replicas.pop())
        more = replicas - len(dep.replicas)
        if more > 0:
            avoid = {r.worker for r in dep.replicas if r.worker}
            for placement in place_replicas(dep.spec, more, self._identity(), self._taken(), avoid):
                handle = ReplicaHandle(len(dep.replicas))
                dep.replicas.append(handle)
                self._start_replica(dep, handle, placement)
        dep.spec.replicas = replicas
        dep.refresh_status()
        self._save(dep)
        return dep.info()

    def add_adapter(self, deployment_id: str, name: str, path: str) -> dict[str, str]:
        """Load the LoRA adapter saved (peft ``save_pretrained``) at ``path`` on every replica;
        requests then name it (``adapter=name``, or ``model: "<deployment>:<name>"`` in /v1).
        An adapter that does not fit the base model is refused (InferenceRequestError naming
        ``adapters``) and unloaded from every replica again. Returns the deployment's adapters."""
        check_adapter_name(name)
        dep = self._ready(deployment_id)
        loaded: list[ReplicaHandle] = []
        try:
            for handle in [r for r in dep.replicas if r.status == DeploymentStatus.READY]:
                self._send(handle, "load_adapter", name, path).result(self.request_timeout)
                loaded.append(handle)
        except Exception:
            for handle in loaded:  # nothing half-loaded: the replicas that took it drop it
                with contextlib.suppress(Exception):
                    self._send(handle, "unload_adapter", name).result(30)
            raise
        dep.spec.adapters[name] = path  # replicas started later load it from the spec
        self._save(dep)
        return dict(dep.spec.adapters)

    def remove_adapter(self, deployment_id: str, name: str) -> dict[str, str]:
        dep = self._get(deployment_id)
        if name not in dep.spec.adapters:
            raise InferenceRequestError(f"adapters: deployment {dep.id} has no adapter {name!r}")
        del dep.spec.adapters[name]
        self._save(dep)
        for handle in [r for r in dep.replicas if r.status == DeploymentStatus.READY]:
            self._send(handle, "unload_adapter", name).result(self.request_timeout)
        return dict(dep.spec.adapters)

    def adapters(self, deployment_id: str) -> dict[str, str]:
        return dict(self._get(deployment_id).spec.adapters)

    def undeploy(self, deployment_id: str) -> dict[str, Any]:
        """Stop every replica and forget the deployment."""
        return self.remove(deployment_id).to_dict()

    def remove(self, deployment_id: str) -> Undeployed:
        """``undeploy``, answering the typed result."""
        dep = self._get(deployment_id)
        with self._state.lock:
            self._state.deployments.pop(dep.id, None)
            self._drop_version(dep)
        for handle in dep.replicas:
            self._stop_replica(handle)
        if self._state.store is not None:
            self._state.store.delete(dep.id)
        log.info("deployment %s (%s) undeployed", dep.id, dep.spec.model_name)
        return Undeployed(dep.id, DeploymentStatus.UNDEPLOYED.value)

    def stop_deployment(self, deployment_id: str) -> DeploymentInfo:
        """Stop every replica (their workers' memory is freed) but keep the deployment listed,
        with its settings, as ``stopped``; ``start_deployment`` loads it again."""
        dep = self._get(deployment_id)
        self._halt(dep, DeploymentStatus.STOPPED)
        self._save(dep)
        log.info("deployment %s (%s) stopped", dep.id, dep.spec.model_name)
        return dep.info()

    def start_deployment(self, deployment_id: str, wait: bool = False) -> DeploymentInfo:
        """Load a stopped deployment's replicas again (placed afresh, as at deploy)."""
        dep = self._get(deployment_id)
        with dep.changed:
            if dep.status != DeploymentStatus.STOPPED:
                raise DeploymentStateError(
                    f"deployment {dep.id} is {dep.status.value}, not stopped: only a stopped "
                    "deployment starts (restart reloads a running one)"
                )
            dep.status, dep.reason = DeploymentStatus.LOADING, None
        log.info("deployment %s (%s) starting", dep.id, dep.spec.model_name)
        return self._load_again(dep, wait)

    def restart_deployment(self, deployment_id: str, wait: bool = False) -> DeploymentInfo:
        """Stop every replica and load them again with the same settings. It is ``loading``
        throughout (never ``stopped``), so requests meanwhile wait for the new replicas."""
        dep = self._get(deployment_id)
        self._halt(dep, DeploymentStatus.LOADING)
        log.info("deployment %s (%s) restarting", dep.id, dep.spec.model_name)
        return self._load_again(dep, wait)

    def _halt(self, dep: Deployment, status: DeploymentStatus) -> None:
        # dep.scaling too: no autoscaler tick or scale-from-zero adds a replica while it stops
        with dep.scaling, self._state.lock, dep.changed:
            handles, dep.replicas = dep.replicas, []
            dep.status, dep.reason = status, None
            dep.changed.notify_all()  # requests waiting for a replica see the new status
        for handle in handles:
            self._stop_replica(handle)

    def _load_again(self, dep: Deployment, wait: bool) -> DeploymentInfo:
        try:
            self._deploy(dep.spec, dep.id, wait, dep=dep)
        except Exception:
            if not dep.replicas:  # nothing could be placed: it stays stopped, and the caller hears why
                with dep.changed:
                    dep.status = DeploymentStatus.STOPPED
                    dep.changed.notify_all()
                self._save(dep)
            raise
        return dep.info()

    def _stop_replica(self, handle: ReplicaHandle) -> None:
        actor, future = handle.actor, handle.future
        handle.actor = handle.future = None
        handle.status = DeploymentStatus.UNDEPLOYED
        if actor is not None:
            # the worker may already be gone; releasing the future is what counts
            with contextlib.suppress(Exception):
                actor.close().result(10)
        if future is not None:
            future.release()

    def restore(self) -> None:
        """Redeploy what the store lists (a restarted head), in the background."""
        if self._state.store is None:
            return
        for name, (weights, previous) in self._state.store.traffic().items():
            self._state.traffic[name] = Traffic(weights, previous)
        for row in self._state.store.rows():
            # listed (loading) at once, so nobody sees the deployment vanish while it reloads
            spec = ModelSpec.from_dict({k: v for k, v in row["spec"].items() if k != "notes"})
            dep = Deployment(row["id"], spec, created_at=row["created_at"])
            stopped = row["status"] == DeploymentStatus.STOPPED.value  # stopped on purpose: stays stopped
            if stopped:  # before it is listed, so the autoscaler never sees it loading
                dep.status = DeploymentStatus.STOPPED
            with self._state.lock:
                self._state.deployments[dep.id] = dep
                self._apply_traffic(dep.spec.name or dep.spec.model_name)
            if dep.autoscaler is not None and self._state.scaling is None:
                self._state.scaling = ScalingLoop(self._listed, self._add_replicas, self._remove_idle)
            if stopped:
                continue
            threading.Thread(target=self._restore_one, args=(dep,), daemon=True).start()

    def _restore_one(self, dep: Deployment) -> None:
        try:
            self._deploy(dep.spec, dep.id, wait=False, dep=dep)
        except Exception as exc:  # keep the row, marked failed, so the dashboard shows why
            with dep.changed:
                dep.status, dep.reason = DeploymentStatus.FAILED, f"redeploy after restart: {exc}"
                dep.changed.notify_all()
            self._save(dep)
            log.info("deployment %s (%s) failed: %s", dep.id, dep.spec.model_name, dep.reason)

    def close(self) -> None:
        """Stop every replica but keep the rows, so a restarted head redeploys them."""
        with self._state.lock:
            deployments = list(self._state.deployments.values())
            self._state.deployments.clear()
            scaling, self._state.scaling = self._state.scaling, None
        if scaling is not None:
            scaling.stop()
        for dep in deployments:
            for handle in dep.replicas:
                self._stop_replica(handle)
        if self._state.store is not None:
            self._state.store.close()

    stop = close

    # ------------------------------------------------------------------ helpers
    def _get(self, deployment_id: str) -> Deployment:
        """By id, ``name@version``, or name (the OpenAI API names models): a version drawn by weight."""
        with self._state.lock:
            dep = self._state.deployments.get(deployment_id) or self._by_name(deployment_id)
        if dep is None:
            raise DeploymentNotFoundError(f"no deployment {deployment_id!r}: see list_deployments()")
        return dep

    def _ready(self, deployment_id: str) -> Deployment:
        dep = self._get(deployment_id)
        if dep.status == DeploymentStatus.STOPPED:
            raise DeploymentStateError(f"deployment {dep.id} is stopped: start it first")
        if dep.status != DeploymentStatus.READY:
            self._wait_ready(dep)
        return dep

    def _identity(self) -> dict[str, Any]:
        return self.cluster_manager.client.scheduler_info()

    def _taken(self) -> Counter[str]:
        with self._state.lock:
            return Counter(r.worker for d in self._state.deployments.values() for r in d.replicas if r.worker)

    def _save(self, dep: Deployment) -> None:
        if self._state.store is not None and dep.id in self._state.deployments:
            self._state.store.save(dep.id, dep.spec.as_dict(), dep.status.value, dep.reason, dep.created_at)


def _adapter_error(error: BaseException | None) -> bool:
    """Whether a replica failed to load because one of its adapters does not fit (adapters.py)."""
    return isinstance(error, InferenceRequestError) and str(error).startswith("adapters.")


def _request(
    prompt: str | None,
    messages: list[dict[str, str]] | None,
    max_tokens: int,
    temperature: float,
    top_p: float,
    stop: list[str] | None,
    seed: int | None,
) -> GenerationRequest:
    if (prompt is None) == (messages is None):
        raise InferenceRequestError("send either a prompt or chat messages (exactly one of them)")
    if max_tokens < 1:
        raise InferenceRequestError(f"max_tokens must be at least 1, got {max_tokens}")
    if temperature < 0 or not 0 < top_p <= 1:
        raise InferenceRequestError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
    return GenerationRequest(prompt, messages, max_tokens, temperature, top_p, list(stop or []), seed)
