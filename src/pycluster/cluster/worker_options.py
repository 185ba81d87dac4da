"""Validated options for a set of worker processes, and their command line.

One place checks what a user gives ``WorkerNode.start``, ``HeadNode.start``,
``ClusterManager.add_worker`` and ``pycluster worker``, so every entry point
gives the same clear error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TypeVar

from ..errors import ConfigError
from ..gpu.pinning import gpu_env, plan_gpu_workers
from ..units import parse_memory_limit, parse_resources
from .local_heads import key_for
from .ports import normalize_scheduler_address
from .security import check_key, tls_address

__all__ = ["WorkerOptions"]


@dataclass(frozen=True)
class WorkerOptions:
    scheduler_address: str
    n_workers: int = 1
    threads_per_worker: int | None = None
    memory_limit: str | int | float = "auto"
    resources: dict[str, float] = field(default_factory=dict)
    name: str | None = None
    host: str | None = None
    death_timeout: float | None = None
    connect_timeout: float = 10.0
    # seconds to keep trying to rejoin a head that went away (0: exit when it goes); a
    # head's own local workers keep 0, their head supervises them and they end with it
    reconnect_timeout: float = 0.0
    # one set of GPU indices per worker process (``gpus=``); empty for CPU workers
    gpu_sets: tuple[tuple[int, ...], ...] = ()
    # never on a command line (ps shows argv): WorkerProcess passes it as PYCLUSTER_AUTH_KEY
    auth_key: str | None = field(default=None, repr=False)
    # Dask settings for these workers only ({"distributed.worker.profile.enabled": False});
    # WorkerProcess passes them as DASK_* environment variables, Dask's own way to configure
    # a process before it starts, and each Nanny hands its config on to its worker
    dask_config: dict[str, str] = field(default_factory=dict)
    # False: each process runs its Dask worker itself, with no Nanny process in between
    # (the local workers of a head, which LocalWorkers supervises and restarts instead)
    nanny: bool = True

    @classmethod
    def create(
        cls,
        scheduler_address: str,
        n_workers: object = None,
        threads_per_worker: object = None,
        memory_limit: object = "auto",
        resources: object = None,
        name: str | None = None,
        host: str | None = None,
        death_timeout: float | None = None,
        connect_timeout: float = 10.0,
        reconnect_timeout: float = 0.0,
        gpus: object = None,
        gpus_per_worker: object = 1,
        check_gpus: bool = True,
        auth_key: str | bytes | None = None,
        dask_config: Mapping[str, object] | None = None,
        nanny: bool = True,
    ) -> WorkerOptions:
        """Check every value; raise :class:`ConfigError` (a ValueError) naming the bad one.

        ``n_workers`` defaults to 1, or to one worker per GPU set with ``gpus`` (see
        :mod:`pycluster.gpu.pinning`); a GPU that is not there raises ``GPUUnavailableError``.
        """
        try:
            address = normalize_scheduler_address(scheduler_address)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        worker_resources = _checked("resources", parse_resources, resources)
        gpu_sets: tuple[tuple[int, ...], ...] = ()
        if gpus is not None:
            per_worker = _count("gpus_per_worker", gpus_per_worker, minimum=1)
            gpu_sets = plan_gpu_workers(gpus, per_worker, check_gpus)
            n_workers, worker_resources = _gpu_workers(n_workers, worker_resources, gpu_sets)
            if not nanny and len(gpu_sets) > 1:
                raise ConfigError(
                    "without Nannies all workers share one process, so they cannot each have "
                    "their own GPUs: drop --no-nanny (nanny=False) or start one worker per process"
                )
        if host is None:
            host = _loopback_host(address)
        # no key given: this user's own head on this machine publishes its key (local_heads)
        key = check_key(auth_key) if auth_key is not None else key_for(address)
        if key is not None:
            address = tls_address(address)  # a keyed cluster speaks only TLS
        return cls(
            scheduler_address=address,
            n_workers=1 if n_workers is None else _count("n_workers", n_workers, minimum=0),
            threads_per_worker=None
            if threads_per_worker is None
            else _count("threads_per_worker", threads_per_worker, minimum=1),
            memory_limit=_checked("memory_limit", parse_memory_limit, memory_limit),
            resources=worker_resources,
            name=name,
            host=host,
            death_timeout=death_timeout,
            connect_timeout=_seconds("connect_timeout", connect_timeout, minimum=0.1),
            reconnect_timeout=_seconds("reconnect_timeout", reconnect_timeout, minimum=0.0),
            gpu_sets=gpu_sets,
            auth_key=key,
            dask_config=_dask_config(dask_config or {}),
            nanny=nanny,
        )

    def effective_threads(self) -> int:
        """Threads per worker; by default the machine's cores shared among the workers (as Dask does)."""
        if self.threads_per_worker is not None:
            return self.threads_per_worker
        return max(1, (os.cpu_count() or 1) // max(1, self.n_workers))

    def worker_names(self) -> list[str | None]:
        if self.name is None:
            return [None] * self.n_workers
        if self.n_workers == 1:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.n_workers)]

    def worker_env(self, index: int) -> dict[str, str] | None:
        """Environment of worker ``index``: its pinned GPUs, if any."""
        return gpu_env(self.gpu_sets[index]) if self.gpu_sets else None

    def dask_env(self) -> dict[str, str]:
        """``dask_config`` as the environment variables Dask reads when it is imported.

        >>> tick = {"distributed.admin.tick.interval": "500ms"}
        >>> WorkerOptions.create("tcp://127.0.0.1:8786", dask_config=tick).dask_env()
        {'DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL': '500ms'}
        """
        return {
            "DASK_" + key.upper().replace(".", "__").replace("-", "_"): v
            for key, v in self.dask_config.items()
        }

    def to_json(self) -> str:
        """These options for a worker process's environment (all but the key, which travels apart)."""
        return json.dumps({**asdict(self), "auth_key": None})

    @classmethod
    def from_json(cls, text: str, auth_key: str | None = None) -> WorkerOptions:
        """The options :meth:`to_json` wrote, with the key given apart.

        >>> options = WorkerOptions.create("tcp://127.0.0.1:8786", n_workers=2, nanny=False)
        >>> WorkerOptions.from_json(options.to_json()) == options
        True
        """
        fields = json.loads(text)
        fields["gpu_sets"] = tuple(tuple(s) for s in fields.get("gpu_sets", ()))
        return replace(cls(**fields), auth_key=auth_key)

    def to_argv(self) -> list[str]:
        """The ``pycluster worker`` arguments that reproduce these options (all but the key)."""
        argv = ["--scheduler", self.scheduler_address, "--workers", str(self.n_workers)]
        if self.threads_per_worker is not None:
            argv += ["--threads", str(self.threads_per_worker)]
        argv += ["--memory-limit", str(self.memory_limit)]
        if self.resources:
            argv += ["--resources", ",".join(f"{k}={v:g}" for k, v in self.resources.items())]
        if self.name is not None:
            argv += ["--name", self.name]
        if self.host is not None:
            argv += ["--host", self.host]
        if self.death_timeout is not None:
            argv += ["--death-timeout", f"{self.death_timeout:g}"]
        argv += ["--connect-timeout", f"{self.connect_timeout:g}"]
        argv += ["--reconnect-timeout", f"{self.reconnect_timeout:g}"]
        if self.gpu_sets:
            # already checked against this machine's GPUs by whoever built these options
            devices = ",".join(str(d) for s in self.gpu_sets for d in s)
            argv += ["--gpus", f"device={devices}", "--gpus-per-worker", str(len(self.gpu_sets[0]))]
            argv += ["--skip-gpu-check"]
        if not self.nanny:
            argv += ["--no-nanny"]
        return argv


def _loopback_host(address: str) -> str | None:
    """A scheduler on loopback means a machine-local cluster: its workers then listen on that
    loopback address too, never on every interface (Dask's default when no host is given)."""
    import ipaddress

    from .ports import split_address

    scheduler_host, _ = split_address(address)
    try:
        return scheduler_host if ipaddress.ip_address(scheduler_host).is_loopback else None
    except ValueError:
        return "127.0.0.1" if scheduler_host == "localhost" else None


def _dask_config(config: Mapping[str, object]) -> dict[str, str]:
    """Dotted Dask keys with values as Dask parses them back from the environment."""
    checked: dict[str, str] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not key or any(c.isspace() for c in key):
            raise ConfigError(
                "dask_config keys are dotted Dask names like 'distributed.worker.profile.enabled', "
                f"got {key!r}"
            )
        # Dask reads DASK_* values with ast.literal_eval, so False must travel as "False", not "false"
        checked[key] = repr(value) if isinstance(value, (bool, int, float)) or value is None else str(value)
    return checked


def _seconds(name: str, value: object, minimum: float) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds >= {minimum:g}, got {value!r}") from None
    if isinstance(value, bool) or not minimum <= seconds < float("inf"):
        raise ConfigError(f"{name} must be a number of seconds >= {minimum:g}, got {value!r}")
    return seconds


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value}")
    return value


def _gpu_workers(
    n_workers: object, resources: dict[str, float], gpu_sets: tuple[tuple[int, ...], ...]
) -> tuple[int, dict[str, float]]:
    """One worker per GPU set, each advertising its GPUs as the Dask resource "GPU"."""
    per_worker = float(len(gpu_sets[0]))
    if n_workers is not None and _count("n_workers", n_workers, minimum=0) != len(gpu_sets):
        raise ConfigError(
            f"n_workers={n_workers} does not match gpus: its {len(gpu_sets)} GPU sets make "
            f"{len(gpu_sets)} workers; leave n_workers out"
        )
    if resources.get("GPU", per_worker) != per_worker:
        raise ConfigError(
            f"resources GPU={resources['GPU']:g} contradicts gpus: each worker gets {per_worker:g} GPUs; "
            "leave GPU out of resources"
        )
    return len(gpu_sets), {**resources, "GPU": per_worker}


_Parsed = TypeVar("_Parsed")


def _checked(name: str, parse: Callable[[object], _Parsed], value: object) -> _Parsed:
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"bad {name}: {exc}") from None
