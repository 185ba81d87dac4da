"""HeadNode: the Dask scheduler, the web app and local workers, started from Python.

>>> with HeadNode("my-cluster", scheduler_port=0, dashboard_port=0) as head:  # doctest: +SKIP
...     info = head.start(n_local_workers=2)
...     head.cluster_manager.submit_task(lambda x: x**2, 10).result()
100

The same from async code (``astart``/``aclose`` run the blocking start and stop in a thread):

>>> async with HeadNode("my-cluster", scheduler_port=0, dashboard_port=0) as head:  # doctest: +SKIP
...     info = await head.astart(n_local_workers=2)

The scheduler and the web app (uvicorn) share one event loop in a background
thread, so ``start()`` returns at once; everything runs until ``shutdown()``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..config import Settings
from ..errors import ClusterError, ClusterNotRunningError
from .cluster_info import ClusterInfoFile, remove_cluster_info, write_cluster_info
from .dask_logs import bound_dask_logs
from .diagnostics import SchedulerWithoutHTTP, diagnostics_host, is_loopback
from .exit_hooks import call_at_exit
from .local_heads import publish, withdraw
from .local_workers import LocalWorkers
from .loop import LoopThread
from .manager import ClusterManager
from .ports import advertised_host, check_port_free, join_address
from .results import ClusterStatus, ConnectionInfo
from .security import (
    check_key_strength,
    cluster_security,
    ensure_cluster_key,
    is_loopback_address,
    quiet_probe_handshakes,
)
from .services import (
    BUILTIN_SERVICES,
    HeadContext,
    HeadService,
    resolve_services,
    start_services,
    stop_services,
)
from .state_lock import StateDirLock
from .ttl_check import check_worker_ttl_often
from .worker_log import WorkerLog
from .worker_options import WorkerOptions

if TYPE_CHECKING:
    from ..data.registry import DatasetRegistry
    from ..jobs.queue import JobQueue
    from ..llm.manager import LLMClusterManager
    from ..monitor.gpu_service import ClusterGPUService
    from ..monitor.history import MetricsHistory
    from .adaptive import AdaptiveState, QueueAwareAdaptive
    from .launchers import LaunchedWorkers, LauncherSettings

__all__ = ["HEAD_SERVICES", "HeadNode"]

T = TypeVar("T")
_log = logging.getLogger(__name__)

# The built-in head services by name (see :mod:`pycluster.cluster.services`)
HEAD_SERVICES = BUILTIN_SERVICES


class HeadNode:
    """A cluster's head: Dask scheduler + dashboard/REST API + optional local workers.

    Arguments left as ``None`` come from settings (pycluster.yaml, ``PYCLUSTER_*``
    environment variables, then defaults: 127.0.0.1, ports 8786/8787, Dask's
    diagnostics on 8789). Any port may be 0 to pick a free one.
    ``dask_dashboard_port=False`` turns Dask's own diagnostics dashboard off: then Dask
    runs no HTTP server at all. When on, it listens on loopback (the head's own address
    for a loopback head, else 127.0.0.1) unless ``dask_dashboard_host`` names another
    host; it has no authentication (see :mod:`pycluster.cluster.diagnostics`).
    The discovery responder answers on UDP ``discovery_port`` (8788 from settings
    when left as ``...``; 0 picks a free port; ``None`` or ``False`` turns it off).
    """

    def __init__(
        self,
        cluster_name: str | None = None,
        host: str | None = None,
        scheduler_port: int | None = None,
        dashboard_port: int | None = None,
        *,
        dask_dashboard_port: int | bool | None = None,
        dask_dashboard_host: str | None = None,
        discovery_port: int | bool | EllipsisType | None = ...,
        api_token: str | None = None,
        auth_key: str | None = None,
        insecure: bool = False,
        weak_key_ok: bool | None = None,
        config: str | None = None,
        settings: Settings | None = None,
        cluster_manager: ClusterManager | None = None,
        silence_logs: int | bool = logging.WARNING,
        state_dir: str | None = None,
        data_roots: list[str] | None = None,
        services: Sequence[str | HeadService] | None = None,
    ) -> None:
        self.settings = settings or Settings.load(
            config,
            name=cluster_name,
            host=host,
            scheduler_port=scheduler_port,
            dashboard_port=dashboard_port,
            dask_dashboard_port="off" if dask_dashboard_port is False else dask_dashboard_port,
            dask_dashboard_host=dask_dashboard_host,
            discovery_port=_discovery_override(discovery_port),
            api_token=api_token,
            auth_key=auth_key,
            weak_key_ok=weak_key_ok,
            state_dir=str(state_dir) if state_dir is not None else None,
            data__roots=data_roots,
        )
        self.cluster_name = self.settings.cluster.name
        # like LocalCluster: Dask's INFO chatter would drown a user's own output
        self._log_level = silence_logs if silence_logs is not True else logging.WARNING
        self.cluster_manager = cluster_manager or ClusterManager(self.cluster_name)
        self.cluster_manager.cluster_name = self.cluster_name
        # the worker processes this head started on this machine (supervised; stopped with it)
        self.local_workers = LocalWorkers(self.cluster_name)
        self._lock = threading.RLock()
        self._loop: LoopThread | None = None
        self._state_lock = StateDirLock(self.state_dir)
        self._scheduler: Any = None
        # names (built-in or from the pycluster.head_services entry points) or service objects
        self._service_specs = None if services is None else tuple(services)
        self._service_names: tuple[str, ...] = ()
        self._context: HeadContext | None = None
        # the public object of each running service, by name
        self.services: dict[str, Any] = {}
        self._started_at: float | None = None
        self.insecure = insecure
        self._security: Any = None
        self._connection_file: Path | None = None
        # cluster_info_<name>.txt in the config folder (the documents' connection information file)
        self._info_file: tuple[Path, ClusterInfoFile] | None = None
        self._adaptive: QueueAwareAdaptive | None = None  # see adapt()
        self.launched: LaunchedWorkers | None = None  # see use_launcher()
        call_at_exit(_shutdown_at_exit, weakref.ref(self))

    # ----------------------------------------------------------------- start
    def start(
        self,
        n_local_workers: int = 0,
        worker_resources: dict[str, float] | str | None = None,
        threads_per_worker: int | None = None,
        memory_limit: str | int | float = "auto",
    ) -> dict[str, Any]:
        """Start the scheduler, the web app and ``n_local_workers`` local worker processes.

        Returns ``{"status": "success", "scheduler_address", "dashboard_address",
        "dashboard_url", "n_workers", ...}``. Calling it again while running starts
        nothing and answers ``{"status": "already_running", ...}``.
        """
        with self._lock:
            if self.is_running:
                return {
                    "status": "already_running",
                    "message": f"head node {self.cluster_name!r} is already running; "
                    "call shutdown() before starting it again",
                    **self.get_connection_info(),
                }
            # validate before anything starts, so a bad argument leaves nothing behind
            services = resolve_services(self._service_specs)
            self._service_names = tuple(s.name for s in services)
            WorkerOptions.create(
                "tcp://127.0.0.1:8786",
                n_local_workers,
                threads_per_worker,
                memory_limit,
                worker_resources,
            )
            self._check_ports()
            try:
                self._start_scheduler_and_client(any(s.stateful for s in services))
                workers = self.cluster_manager.add_worker(
                    n_workers=n_local_workers,
                    threads_per_worker=threads_per_worker,
                    memory_limit=memory_limit,
                    resources=worker_resources,
                    timeout=self.settings.cluster.worker_start_timeout,
                )
                self._started_at = time.time()
                self._start_head_services(services)
                self._connection_file = publish(
                    self.scheduler_address, self.dashboard_url, self.auth_key, self.settings.cluster.api_token
                )
                self._write_info_file()
            except BaseException:
                self.shutdown()
                raise
            info = self.get_connection_info()
            _log.info(
                "head %r started: scheduler %s, dashboard %s, %d local workers",
                self.cluster_name,
                self.scheduler_address,
                self.dashboard_url,
                workers["n_workers"],
            )
            return {
                "status": "success",
                "message": f"head node {self.cluster_name!r} started",
                **info,
                "n_workers": workers["n_workers"],
                "workers": workers["workers"],
            }

    def _write_info_file(self) -> None:
        info = self.connection_info()
        key_file = self.state_dir / "cluster_key"
        if self.auth_key is None:
            where = "none (an insecure head: anyone who reaches the scheduler can join)"
        elif key_file.is_file():
            where = (
                f"stored user-only in {key_file}; a worker on another machine needs it as PYCLUSTER_AUTH_KEY"
            )
        else:
            where = "from the head's settings (PYCLUSTER_AUTH_KEY or cluster.auth_key); not written here"
        record = ClusterInfoFile(
            info.cluster_name,
            info.scheduler_address,
            info.dashboard_url,
            info.dask_dashboard_url,
            info.worker_command,
            where,
        )
        try:
            self._info_file = (write_cluster_info(record), record)
        except OSError as exc:  # a read-only config folder must not stop a head
            _log.warning("could not write cluster_info_%s.txt: %s", self.cluster_name, exc)
            return
        _log.info("connection information for %r in %s", self.cluster_name, self._info_file[0])

    @property
    def cluster_info_file(self) -> Path | None:
        """This running head's ``cluster_info_<name>.txt`` (None when stopped or not written)."""
        return self._info_file[0] if self._info_file is not None else None

    def _check_ports(self) -> None:
        c = self.settings.cluster
        check_port_free(c.host, c.scheduler_port, "scheduler")
        if "web" in self._service_names:
            check_port_free(c.host, c.dashboard_port, "dashboard")
        if c.dask_dashboard_port:
            check_port_free(self._diagnostics_host, c.dask_dashboard_port, "Dask diagnostics dashboard")
        ports = [c.scheduler_port, c.dashboard_port if "web" in self._service_names else None]
        ports.append(c.dask_dashboard_port)
        taken = [p for p in ports if p]
        if len(taken) != len(set(taken)):
            raise ClusterError(f"scheduler, dashboard and Dask diagnostics ports must differ: {ports}")

    def _start_scheduler_and_client(self, stateful: bool) -> None:
        if self._log_level:
            logging.getLogger("distributed").setLevel(self._log_level)
        quiet_probe_handshakes()
        if stateful:
            self._state_lock.acquire()
            from ..jobs.queue import DATABASE_NAME
            from ..jobs.storage import check_database

            check_database(self.state_dir / DATABASE_NAME)  # damaged: stop before a service opens it
        key = ensure_cluster_key(self.settings, self.state_dir, insecure=self.insecure)
        if key:  # before anything listens: a weak key on a network head is refused here
            check_key_strength(key, self.settings.cluster.host, self.settings.cluster.weak_key_ok)
        self._security = cluster_security(key) if key else None
        self._loop = LoopThread(f"pycluster-head-{self.cluster_name}").start()
        self._scheduler = self._loop.run(self._start_scheduler(), timeout=60)
        self.cluster_manager.attach_head(self, self.settings.cluster.connect_timeout)

    def _start_head_services(self, services: list[HeadService]) -> None:
        assert self._loop is not None
        self._context = HeadContext(
            head=self,
            settings=self.settings,
            state_dir=self.state_dir,
            scheduler=self._scheduler,
            cluster_manager=self.cluster_manager,
            loop=self._loop,
        )
        self._loop.run(start_services(services, self._context), timeout=None)
        _log.debug("head services started: %s", ", ".join(s.name for s in services))

    def run_on_loop(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run ``coro`` on the head's event loop (where the scheduler lives) and wait for it."""
        return self._running_loop(coro).run(coro, timeout)

    async def on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the head's event loop from a coroutine on any loop."""
        return await self._running_loop(coro).on_loop(coro)

    def _running_loop(self, coro: Coroutine[Any, Any, Any]) -> LoopThread:
        if self._loop is None:
            coro.close()  # never awaited: close it rather than leave a warning behind
            raise ClusterNotRunningError(f"head node {self.cluster_name!r} is not running: call start()")
        return self._loop

    @property
    def state_dir(self) -> Path:
        """Where this head keeps jobs, datasets and results (``PYCLUSTER_STATE_DIR``)."""
        return self.settings.cluster.resolved_state_dir()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The head's event loop, where the scheduler and the services run (None while stopped)."""
        return self._loop.loop if self._loop is not None else None

    @property
    def scheduler(self) -> Any:
        """The ``distributed.Scheduler`` (None while stopped); use it on the head's loop."""
        return self._scheduler

    # services holds objects by name (plugins included): the properties below cast to what each
    # built-in name holds
    def _service(self, name: str, what: str) -> Any:
        service = self.services.get(name)
        if service is not None:
            return service
        if not self.is_running:
            raise ClusterNotRunningError(f"head node {self.cluster_name!r} has no {what}: call start()")
        raise ClusterNotRunningError(
            f"head node {self.cluster_name!r} runs no {what}: start it with the {name!r} service "
            f"(HeadNode(services=(..., {name!r})))"
        )

    @property
    def datasets(self) -> DatasetRegistry:
        """The dataset registry (:class:`pycluster.data.DatasetRegistry`): ``head.datasets.register()``."""
        return cast("DatasetRegistry", self._service("datasets", "dataset registry"))

    @property
    def jobs(self) -> JobQueue:
        """The job queue (:class:`pycluster.jobs.JobQueue`): ``head.jobs.submit(func, ...)``."""
        return cast("JobQueue", self._service("jobs", "job queue"))

    @property
    def llm(self) -> LLMClusterManager:
        """LLM serving (:class:`pycluster.llm.LLMClusterManager`): ``head.llm.deploy_model(...)``."""
        return cast("LLMClusterManager", self._service("llm", "LLM service"))

    @property
    def metrics(self) -> MetricsHistory:
        """The cluster's metrics history (samples, task counts, alerts)."""
        return cast("MetricsHistory", self._service("metrics", "metrics history"))

    @property
    def gpus(self) -> ClusterGPUService:
        """The cluster-wide GPU view (``head.gpus.status()``)."""
        return cast("ClusterGPUService", self._service("gpu", "GPU monitor"))

    @property
    def _diagnostics_host(self) -> str:
        c = self.settings.cluster
        return diagnostics_host(c.host, c.dask_dashboard_host)

    async def _start_scheduler(self) -> Any:
        from distributed import Scheduler

        from .spans import scheduler_extensions

        bound_dask_logs()  # before the scheduler and its comms create their logs

        c = self.settings.cluster
        diagnostics = c.dask_dashboard_port
        if diagnostics is not None and not is_loopback(self._diagnostics_host):
            _log.warning(
                "Dask's diagnostics dashboard listens on %s: it has no authentication and shows "
                "worker logs and call stacks to anyone who reaches it",
                self._diagnostics_host,
            )
        # Dask's Scheduler always runs an HTTP server (worker logs, call stacks, an event
        # stream, no authentication): with diagnostics off, run none at all
        scheduler_class = Scheduler if diagnostics is not None else SchedulerWithoutHTTP
        scheduler = scheduler_class(
            host=c.host,
            port=c.scheduler_port,
            dashboard=diagnostics is not None,
            # a (host, port) pair: Dask's "host:port" strings cannot carry an IPv6 address
            # (Dask annotates dashboard_address as str, but takes a list of pairs too)
            dashboard_address=[(self._diagnostics_host, diagnostics or 0)],  # type: ignore[arg-type]
            # with a cluster key: TLS only, and only holders of the key get through the handshake
            security=self._security,
            protocol="tls" if self._security else None,
            worker_ttl=worker_ttl(),
            extensions=scheduler_extensions(),  # finished spans forgotten (spans.py)
        )
        check_worker_ttl_often(scheduler)
        await scheduler
        # the head's own client (the job queue's; this process's default client) talks to the
        # scheduler through memory: no TLS, no serialisation and no socket between two threads
        # of one process (Dask's inproc comm). Workers and other clients use the address above.
        await scheduler.listen("inproc://")
        scheduler.add_plugin(WorkerLog())  # workers joining and leaving, at INFO
        _log.debug("scheduler listening on %s", scheduler.address)
        return scheduler

    # ----------------------------------------------------------------- status
    @property
    def auth_key(self) -> str | None:
        """The cluster key (None: plain tcp://, anyone who reaches the port may run code)."""
        return self.settings.cluster.auth_key

    @property
    def security(self) -> Any:
        """The ``distributed.security.Security`` a Dask ``Client`` needs to reach this head
        (None on an ``insecure`` head): ``Client(head.scheduler_address, security=head.security)``."""
        return self._security

    @property
    def login_url(self) -> str | None:
        """The dashboard URL that signs a browser in once (it holds the API token: keep it private)."""
        token = self.settings.cluster.api_token
        if self.dashboard_url is None or not token:
            return self.dashboard_url
        return f"{self.dashboard_url}/login?token={token}"

    @property
    def is_running(self) -> bool:
        return self._scheduler is not None and self._loop is not None and self._loop.alive

    @property
    def in_process_address(self) -> str | None:
        """The scheduler's address for clients in this process (``inproc://``; None when stopped)."""
        scheduler = self._scheduler
        if scheduler is None:
            return None
        found = [
            str(ln.contact_address)
            for ln in scheduler.listeners
            if ln.contact_address.startswith("inproc://")
        ]
        return found[0] if found else None

    @property
    def scheduler_address(self) -> str:
        if self._scheduler is None:
            raise ClusterNotRunningError(f"head node {self.cluster_name!r} is not running: call start()")
        return str(self._scheduler.address)

    @property
    def dashboard_url(self) -> str | None:
        web = self.services.get("web")
        if web is None:
            return None
        scheme = "https" if getattr(web, "tls", None) else "http"
        return f"{scheme}://{_url_host(advertised_host(self.settings.cluster.host))}:{web.port}"

    @property
    def dask_dashboard_url(self) -> str | None:
        """Dask's diagnostics dashboard, at the address it listens on (None when off)."""
        service = (self._scheduler.services or {}).get("dashboard") if self._scheduler else None
        if service is None or self.settings.cluster.dask_dashboard_port is None:
            return None
        return f"http://{_url_host(advertised_host(self._diagnostics_host))}:{service.port}/status"

    @property
    def uptime_seconds(self) -> float:
        return time.time() - self._started_at if self._started_at else 0.0

    def connection_info(self) -> ConnectionInfo:
        """How to reach this head: scheduler address, dashboard URL, the worker command."""
        address = self.scheduler_address
        return ConnectionInfo(
            cluster_name=self.cluster_name,
            scheduler_address=address,
            dashboard_url=self.dashboard_url,
            dask_dashboard_url=self.dask_dashboard_url,
            worker_command=_worker_command(join_address(address, self.settings.cluster.host), self.auth_key),
            authenticated=self.auth_key is not None,
            host=self.settings.cluster.host,
            discovery_port=getattr(self.services.get("discovery"), "port", None),
        )

    def get_connection_info(self) -> dict[str, Any]:
        """:meth:`connection_info` as the documents' dict."""
        return self.connection_info().to_dict()

    async def snapshot(self) -> dict[str, Any]:
        """The scheduler's identity, read on the head's loop (awaitable from any loop)."""
        loop, scheduler = self._loop, self._scheduler
        if loop is None or scheduler is None:
            raise ClusterNotRunningError(f"head node {self.cluster_name!r} is not running")

        async def identity() -> dict[str, Any]:
            return dict(scheduler.identity())

        return await loop.on_loop(identity())

    async def cluster_status(self) -> ClusterStatus:
        """Running or stopped, totals, and one entry per worker (awaitable from any loop)."""
        if not self.is_running:
            return ClusterStatus.stopped(self.cluster_name)
        return ClusterStatus.running(self.connection_info(), self.uptime_seconds, await self.snapshot())

    def get_cluster_status(self) -> dict[str, Any]:
        """Running or stopped, totals, and one entry per worker."""
        if not self.is_running or self._loop is None:
            return ClusterStatus.stopped(self.cluster_name).to_dict()
        return self._loop.run(self.cluster_status(), timeout=10).to_dict()

    # ----------------------------------------------------------------- adaptive scaling
    def adapt(
        self,
        minimum: int | None = 0,
        maximum: int | None = None,
        *,
        interval: float = 1.0,
        wait_count: int = 3,
        target_duration: float = 5.0,
    ) -> AdaptiveState:
        """Scale the local workers between ``minimum`` and ``maximum`` with Dask's ``Adaptive``.

        Queued tasks and the job queue's waiting jobs bring workers up; idle ones are retired
        gracefully (their data moves first). ``adapt(None)`` turns it off (the workers stay).
        The maximum defaults to the machine's cores; one over what its memory holds is a
        ``ConfigError``. Calling it again replaces the bounds. See :mod:`pycluster.cluster.adaptive`.
        """
        from .adaptive import adaptive_settings, start_adaptive, state_of

        with self._lock:
            if minimum is None:
                old, self._adaptive = self._adaptive, None
                if old is not None and self._loop is not None and self._loop.alive:
                    self._loop.run(_stop_adaptive(old), timeout=10)
                return state_of(self, None)
            if self._loop is None:
                raise ClusterNotRunningError(f"head node {self.cluster_name!r} is not running: call start()")
            settings = adaptive_settings(self, minimum, maximum, interval, wait_count, target_duration)
            self.adapt(None)
            self._adaptive = self._loop.run(start_adaptive(self, settings), timeout=10)
            _log.info(
                "head %r scales adaptively: %d to %d workers", self.cluster_name, minimum, settings.maximum
            )
            return state_of(self, self._adaptive)

    def use_launcher(self, settings: LauncherSettings) -> LaunchedWorkers:
        """Have :meth:`adapt` scale workers submitted as batch jobs (SLURM, PBS, SGE, LSF)
        instead of local ones; call after :meth:`start`. See :mod:`pycluster.cluster.launchers`."""
        from .launchers import LaunchedWorkers

        with self._lock:
            if self._loop is None:
                raise ClusterNotRunningError(f"head node {self.cluster_name!r} is not running: call start()")
            self.launched = LaunchedWorkers(
                settings, self.scheduler_address, self.auth_key, self.cluster_name
            )
            return self.launched

    @property
    def adaptive(self) -> AdaptiveState:
        """Whether this head scales adaptively, its bounds and latest target."""
        from .adaptive import state_of

        return state_of(self, self._adaptive)

    # ----------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Stop local workers, the web app and the scheduler. Safe to call twice."""
        with self._lock:
            self.adapt(None)  # first: no scale-up may race the workers' stop
            launched, self.launched = self.launched, None
            if launched is not None and self._loop is not None and self._loop.alive:
                try:  # batch jobs outlive the head otherwise, holding nodes until their walltime
                    self._loop.run(launched.close(), timeout=60)
                except Exception:
                    _log.exception("cancelling the worker jobs failed")
            withdraw(self._connection_file)
            self._connection_file = None
            if self._info_file is not None:
                remove_cluster_info(*self._info_file)
                self._info_file = None
            self.local_workers.signal_stop()  # they close while the rest of the head does
            scheduler_log = logging.getLogger("distributed.scheduler")
            level_before = scheduler_log.level
            if self._scheduler is not None:
                # workers racing the close (Ctrl-C reaches them too) make the scheduler warn
                # about heartbeats from workers it just removed: expected here, not news
                scheduler_log.setLevel(logging.ERROR)
            context, self._context = self._context, None
            if context is not None and self._loop is not None and self._loop.alive:
                try:  # in reverse order; one that fails is logged and the rest still stop
                    self._loop.run(stop_services(context), timeout=None)
                except Exception:
                    _log.exception("stopping the head services failed")
            self.services.clear()
            self.cluster_manager.release()
            self.local_workers.stop()
            loop, self._loop = self._loop, None
            if loop is not None and loop.alive:
                if self._scheduler is not None:
                    try:  # closes its listeners (the port is free again) and its comms
                        loop.run(self._scheduler.close(reason="head shutdown"), timeout=20)
                    except Exception:
                        _log.exception("closing the scheduler failed")
                loop.stop()
                _log.info("head %r stopped", self.cluster_name)
            self._scheduler = None
            self._started_at = None
            self._state_lock.release()
            scheduler_log.setLevel(level_before)  # a head started later warns as usual

    def __enter__(self) -> HeadNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ----------------------------------------------------------------- async twins
    async def astart(
        self,
        n_local_workers: int = 0,
        worker_resources: dict[str, float] | str | None = None,
        threads_per_worker: int | None = None,
        memory_limit: str | int | float = "auto",
    ) -> dict[str, Any]:
        """:meth:`start` for async code: the caller's loop keeps running meanwhile.

        Starting blocks (worker processes are spawned and waited for, the client connects
        with its own loop), so it runs in a worker thread. Cancelled, it lets the start
        finish and then shuts the head down again, so nothing is left running.
        """
        start = asyncio.ensure_future(
            asyncio.to_thread(self.start, n_local_workers, worker_resources, threads_per_worker, memory_limit)
        )
        try:
            return await asyncio.shield(start)
        except asyncio.CancelledError:
            await asyncio.wait({start})
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """:meth:`shutdown` for async code (in a worker thread). Safe to call twice."""
        await asyncio.to_thread(self.shutdown)

    async def __aenter__(self) -> HeadNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = f"scheduler={self._scheduler.address}" if self._scheduler else "stopped"
        return f"<HeadNode {self.cluster_name!r} {state}>"

    def _repr_html_(self) -> str:
        """Jupyter's view: name, addresses, dashboard links, workers, cores and memory.

        Never the cluster key or the API token (the dashboard link is the one without it).
        """
        from ..html_repr import Link, cluster_rows, html_table

        title = f"HeadNode: {self.cluster_name}"
        if not self.is_running or self._loop is None:
            return html_table(title, [("status", "stopped")])
        rows: list[tuple[str, object]] = [
            ("status", "running"),
            ("scheduler", self.scheduler_address),
            ("dashboard", Link(self.dashboard_url) if self.dashboard_url else None),
            ("Dask diagnostics", Link(self.dask_dashboard_url) if self.dask_dashboard_url else None),
            ("authenticated", "yes (TLS with the cluster key)" if self.auth_key else "no"),
            ("uptime", f"{self.uptime_seconds:.0f} s"),
        ]
        try:
            identity: dict[str, Any] | None = self._loop.run(self.snapshot(), timeout=5)
        except Exception:  # a notebook cell must render even when the scheduler is stuck
            identity = None
        return html_table(title, rows + cluster_rows(identity))


async def _stop_adaptive(adaptive: QueueAwareAdaptive, timeout: float = 8.0) -> None:
    adaptive.stop(reason="adapt(None)")  # on the loop: its periodic callback lives there
    # and a scale-up under way finishes first, so no worker starts after the head stopped its own
    deadline = time.monotonic() + timeout
    while adaptive._adapting and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _discovery_override(port: int | bool | EllipsisType | None) -> int | str | None:
    """``...`` = from settings (None to Settings.load); None/False = off; a port as given."""
    if port is ...:
        return None
    return "off" if port is None or port is False else port


def _worker_command(address: str, key: str | None) -> str:
    # never the key itself: this dict is served over REST. A worker on a loopback head's
    # machine finds the key in the head's connection file, so it needs no prefix there
    prefix = "PYCLUSTER_AUTH_KEY=<the cluster key> " if key and not is_loopback_address(address) else ""
    return f"{prefix}pycluster worker --scheduler {address}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _shutdown_at_exit(ref: weakref.ReferenceType[HeadNode]) -> None:
    head = ref()
    if head is not None and head.is_running:
        head.shutdown()


# Dask drops a worker that has not sent a heartbeat for this long (its default is 5 minutes,
# during which a stopped or hung worker keeps its tasks and the jobs waiting on them). 20 s is
# 40 heartbeats at Dask's 0.5 s interval for small clusters (Dask itself never goes below 10
# intervals, so large clusters get more), enough for a worker whose event loop is busy a few
# seconds (unpickling a big argument); a hung or cut-off worker is dropped 20-22 s after its
# last heartbeat (ttl_check: Dask's own check took up to 60 s) and its tasks run elsewhere.
# A value set in Dask's config wins.
WORKER_TTL = 20.0
_DASK_DEFAULT_TTL = "5 minutes"


def worker_ttl() -> float | None:
    """The scheduler's ``worker-ttl`` in seconds: pycluster's, unless Dask's config sets another
    (None: off)."""
    import dask.config
    from dask.utils import parse_timedelta

    configured = dask.config.get("distributed.scheduler.worker-ttl", _DASK_DEFAULT_TTL)
    if configured == _DASK_DEFAULT_TTL:
        return WORKER_TTL
    return None if configured is None else float(parse_timedelta(configured))
