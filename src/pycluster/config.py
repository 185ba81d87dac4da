"""Settings in one place: defaults < pycluster.yaml < environment < arguments.

The YAML file has the sections of the PyCluster v2 document (``cluster``, ``gpu``,
``llm``, ``monitoring``) plus ``jobs`` (the processing cluster's job-queue settings).
It is read from the path given to :meth:`Settings.load`,
else from ``PYCLUSTER_CONFIG``, else from ``./pycluster.yaml`` when that exists.

One naming everywhere (:func:`setting_keys`): ``section.key`` in the YAML file; its flat key
(:func:`flat_key`: ``scheduler_port``, ``cluster_name``, ``gpu_memory_fraction``) in saved
configs (``pycluster config save``); ``PYCLUSTER_`` and the flat key upper-cased in the
environment (``PYCLUSTER_SCHEDULER_PORT``, ``PYCLUSTER_GPU_MEMORY_FRACTION``). Older names
and the product documents' are still read, below the canonical one (``DASK_N_WORKERS``,
``DASK_THREADS_PER_WORKER``, ``DASK_MEMORY_LIMIT``, ``MAX_CONCURRENT_JOBS``,
``JOB_CHECK_INTERVAL``, ``PYCLUSTER_MODEL_CACHE_DIR``, ...). ``pycluster config schema`` prints
the JSON schema editors complete pycluster.yaml with. A bad value raises :class:`ConfigError`
naming the key, where the value came from and what is allowed.

>>> s = Settings.load(env={"PYCLUSTER_SCHEDULER_PORT": "9000"}, config_path=False)
>>> s.cluster.scheduler_port
9000
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .units import (
    parse_bool,
    parse_fraction,
    parse_memory_limit,
    parse_non_negative_int,
    parse_port,
    parse_positive_int,
    parse_seconds,
)

__all__ = [
    "ClusterSettings",
    "DataSettings",
    "GPUSettings",
    "JobSettings",
    "LLMSettings",
    "MonitoringSettings",
    "SettingKey",
    "Settings",
    "env_name",
    "flat_key",
    "setting_keys",
]

Parser = Callable[[Any], Any]


def _setting(default: Any, parse: Parser, *env: str, doc: str = "", secret: bool = False) -> Any:
    """A setting's field: ``env`` are its environment names beside the canonical one (see
    :func:`env_name`; older and the documents' names), ``doc`` its line in the JSON schema."""
    # secrets stay out of repr(): settings end up in logs, tracebacks and bug reports
    metadata = {"parse": parse, "env": env, "doc": doc, "secret": secret}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata, repr=not secret)


def _optional(parse: Parser) -> Parser:
    """Also accept none/off/null (turns a feature off)."""

    def parse_optional(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in {"none", "off", "null", ""}):
            return None
        return parse(value)

    return parse_optional


def _text(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value).strip() == "":
        raise ValueError(f"{value!r} is not a non-empty text")
    return str(value).strip()


def _optional_text(value: Any) -> str | None:
    return None if value in (None, "") else _text(value)


def _precision(value: Any) -> str:
    allowed = {"fp32", "fp16", "bf16", "int8", "int4"}
    text = str(value).strip().lower()
    if text not in allowed:
        raise ValueError(f"{value!r} is not a precision; allowed: {', '.join(sorted(allowed))}")
    return text


def _model_size(value: Any) -> str:
    """A parameter count such as 70b, 345m or 1.3b (PYCLUSTER_MAX_MODEL_SIZE)."""
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmbt]?)", text)
    if isinstance(value, bool) or not match or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a model size such as 70b, 13b or 345m")
    return text


def _allow_growth(value: Any) -> bool:
    # PyTorch and vLLM take GPU memory as they need it (that is allow_growth=true); reserving
    # it all up front, TensorFlow's allow_growth=false, has no counterpart: refuse, never ignore
    if not parse_bool(value):
        raise ValueError(
            "allow_growth=false (reserve all GPU memory at start) is not supported: pycluster's engines "
            "(PyTorch, vLLM) take GPU memory as they need it; remove the setting or set it to true, and "
            "bound the memory with gpu.memory_fraction"
        )
    return True


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _thresholds(value: Any) -> dict[str, float]:
    if isinstance(value, str):  # the environment: YAML or JSON text, {"gpu_temperature": 75}
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"{value!r} is not a mapping of threshold names to numbers") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{value!r} is not a mapping of threshold names to numbers")
    return {str(k): _float(v) for k, v in value.items()}


def _origin_list(value: Any) -> list[str]:
    from .web.cors import parse_origins

    if isinstance(value, str):
        value = [part for part in value.replace(" ", ",").split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{value!r} is not a list of origins such as https://app.example.org")
    return parse_origins(value)


@dataclass
class ClusterSettings:
    name: str = _setting(
        "pycluster",
        _text,
        "PYCLUSTER_CLUSTER_NAME",
        doc="The cluster's name, shown on the dashboard, in logs and to discovery.",
    )
    host: str = _setting(
        "127.0.0.1",
        _text,
        "PYCLUSTER_HOST",
        doc="The address the head listens on (0.0.0.0: every interface; then a cluster key is needed).",
    )
    scheduler_port: int = _setting(
        8786, parse_port, "PYCLUSTER_SCHEDULER_PORT", doc="The Dask scheduler's port (0: pick a free one)."
    )
    dashboard_port: int = _setting(
        8787,
        parse_port,
        "PYCLUSTER_DASHBOARD_PORT",
        doc="The dashboard and REST API's port (0: pick a free one).",
    )
    # HTTPS for the dashboard and REST API (web/tls.py): both or neither
    tls_cert: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_TLS_CERT",
        doc="A PEM certificate (chain) for HTTPS on the dashboard and REST API; needs tls_key.",
    )
    tls_key: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_TLS_KEY",
        doc="The PEM private key of tls_cert (readable by its owner only, not encrypted).",
    )
    # browser pages elsewhere that may call the API (web/cors.py); empty: no cross-origin access
    cors_origins: list[str] = _setting(
        [],
        _origin_list,
        "PYCLUSTER_CORS_ORIGINS",
        doc="Origins (https://host[:port]) whose pages may call the API from a browser "
        "(in the environment: separated by commas). Empty: none.",
    )
    discovery_port: int | None = _setting(
        8788,
        _optional(parse_port),
        "PYCLUSTER_DISCOVERY_PORT",
        doc="The UDP port heads answer discovery on (null or off: no discovery).",
    )
    dask_dashboard_port: int | None = _setting(
        8789,
        _optional(parse_port),
        "PYCLUSTER_DASK_DASHBOARD_PORT",
        doc="Dask's own diagnostics dashboard port (null or off: none).",
    )
    # where Dask's diagnostics listen; None: loopback (cluster/diagnostics.py), never the network
    dask_dashboard_host: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_DASK_DASHBOARD_HOST",
        doc="Where Dask's diagnostics listen (unset: loopback only).",
    )
    api_port: int = _setting(
        8001, parse_port, "PYCLUSTER_API_PORT", doc="The standalone `pycluster api` server's port."
    )
    n_workers: int = _setting(
        2,
        parse_non_negative_int,
        "PYCLUSTER_N_WORKERS",
        "DASK_N_WORKERS",
        doc="Local worker processes the head starts (the saved-config key local_workers means the same).",
    )
    threads_per_worker: int | None = _setting(
        None,
        _optional(parse_positive_int),
        "PYCLUSTER_THREADS_PER_WORKER",
        "DASK_THREADS_PER_WORKER",
        doc="Threads per local worker (unset: Dask's choice from the CPU count).",
    )
    memory_limit: str | int | float = _setting(
        "auto",
        parse_memory_limit,
        "PYCLUSTER_MEMORY_LIMIT",
        "DASK_MEMORY_LIMIT",
        doc="Memory per local worker: auto, a size such as 4GiB, or a share of RAM such as 0.5.",
    )
    worker_start_timeout: float = _setting(
        30.0,
        parse_seconds,
        "PYCLUSTER_WORKER_START_TIMEOUT",
        doc="How long the head waits for its local workers (seconds, or a duration such as 1min).",
    )
    connect_timeout: float = _setting(
        10.0,
        parse_seconds,
        "PYCLUSTER_CONNECT_TIMEOUT",
        doc="How long clients and workers try to reach the scheduler.",
    )
    api_token: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_API_TOKEN",
        secret=True,
        doc="Bearer token the REST API requires (prefer api_token_file).",
    )
    # a file holding the API token (user-only, as ssh wants a key): keeps it out of ps and the environment
    api_token_file: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_API_TOKEN_FILE",
        doc="A file holding the API token (readable by its owner only).",
    )
    # the cluster key: TLS with mutual authentication for every Dask connection (cluster/security.py)
    auth_key: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_AUTH_KEY",
        secret=True,
        doc="The cluster key: TLS with mutual authentication for every Dask connection.",
    )
    # accept a user-chosen key below security.STRONG_KEY_BITS on a head open to the network
    weak_key_ok: bool = _setting(
        False,
        parse_bool,
        "PYCLUSTER_WEAK_KEY_OK",
        doc="Accept a weak user-chosen cluster key on a head open to the network.",
    )
    state_dir: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_STATE_DIR",
        doc="Where jobs, datasets and results live (unset: the platform's data folder).",
    )

    def resolved_state_dir(self) -> Path:
        """Where jobs, datasets and results live: ``state_dir`` or the platform data folder."""
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        import platformdirs

        return Path(platformdirs.user_data_dir("pycluster", appauthor=False))


def _positive_float(value: Any) -> float:
    number = _float(value)
    if not 0 < number <= 1_000_000:
        raise ValueError(f"{value!r} must be above 0")
    return number


@dataclass
class JobSettings:
    max_concurrent_jobs: int = _setting(
        4,
        parse_positive_int,
        "PYCLUSTER_MAX_CONCURRENT_JOBS",
        "MAX_CONCURRENT_JOBS",
        doc="Jobs running at once; more wait in the queue.",
    )
    check_interval: float = _setting(
        5.0,
        parse_seconds,
        "PYCLUSTER_JOB_CHECK_INTERVAL",
        "JOB_CHECK_INTERVAL",
        doc="How often the queue looks at running jobs (seconds or a duration).",
    )
    default_max_memory_gb: float = _setting(
        1.0,
        _positive_float,
        "PYCLUSTER_DEFAULT_MAX_MEMORY_GB",
        "DEFAULT_MAX_MEMORY_GB",
        doc="Memory a job may use when it names no limit (GB).",
    )
    default_max_cores: float = _setting(
        1.0,
        _positive_float,
        "PYCLUSTER_DEFAULT_MAX_CORES",
        "DEFAULT_MAX_CORES",
        doc="Cores a job may use when it names no limit.",
    )
    default_retries: int = _setting(
        3, parse_non_negative_int, "PYCLUSTER_JOB_RETRIES", doc="Retries of a failed job when it names none."
    )
    aging_interval: float = _setting(
        60.0,
        parse_seconds,
        "PYCLUSTER_JOB_AGING_INTERVAL",
        doc="After how long a waiting job moves up one priority.",
    )
    burst_hold: float = _setting(
        1.0,
        parse_seconds,
        "PYCLUSTER_JOB_BURST_HOLD",
        doc=(
            "While REST submissions arrive in a burst (200 a second or more), jobs submitted in "
            "it wait up to this long before they start, so the head answers the submissions "
            "first; CRITICAL jobs never wait. 0: jobs start as they come."
        ),
    )
    dispatch_lookahead: int = _setting(
        32,
        parse_non_negative_int,
        "PYCLUSTER_JOB_DISPATCH_LOOKAHEAD",
        doc=(
            "Small jobs (one core, default memory) handed to the cluster per worker thread ahead "
            "of a free core, so workers never wait for the dispatcher; they stay queued until they "
            "start. 0: none."
        ),
    )


@dataclass
class GPUSettings:
    # the share of each GPU's memory deployments may take: placement leaves the rest free,
    # and replicas cap their process at it (torch's per-process fraction, vLLM's utilization)
    memory_fraction: float = _setting(
        0.9,
        parse_fraction,
        "PYCLUSTER_GPU_MEMORY_FRACTION",
        doc="The share of each GPU's memory deployments may take (0-1).",
    )
    allow_growth: bool = _setting(
        True,
        _allow_growth,
        "PYCLUSTER_GPU_ALLOW_GROWTH",
        doc="Engines take GPU memory as they need it (only true is supported).",
    )
    temperature_threshold: float = _setting(
        85.0,
        _float,
        "PYCLUSTER_GPU_TEMPERATURE_THRESHOLD",
        doc="GPU temperature (Celsius) above which an alert is raised.",
    )
    power_limit_threshold: float = _setting(
        0.95,
        parse_fraction,
        "PYCLUSTER_GPU_POWER_LIMIT_THRESHOLD",
        doc="Share of a GPU's power limit above which an alert is raised.",
    )


@dataclass
class LLMSettings:
    model_cache_dir: str | None = _setting(
        None,
        _optional_text,
        "PYCLUSTER_MODEL_CACHE_DIR",
        doc="Folder searched for models by name before the Hugging Face cache.",
    )
    # what deploy_model and POST /api/llm/models/deploy use when the request names no precision
    default_precision: str = _setting(
        "fp16",
        _precision,
        "PYCLUSTER_DEFAULT_PRECISION",
        doc="Precision of deployments that name none: fp32, fp16, bf16, int8 or int4.",
    )
    # deployments of larger models are refused (parameters, e.g. 70b)
    max_model_size: str | None = _setting(
        None,
        _optional(_model_size),
        "PYCLUSTER_MAX_MODEL_SIZE",
        doc="Refuse deployments of larger models (parameters, such as 70b).",
    )
    # requests in flight per deployment; one more is answered DeploymentBusyError (HTTP 429)
    max_concurrent_requests: int = _setting(
        100,
        parse_positive_int,
        "PYCLUSTER_LLM_MAX_CONCURRENT_REQUESTS",
        doc="Requests in flight per deployment; one more is answered HTTP 429.",
    )
    request_timeout: float = _setting(
        300.0,
        parse_seconds,
        "PYCLUSTER_LLM_REQUEST_TIMEOUT",
        doc="How long one LLM request may take (seconds or a duration).",
    )


@dataclass
class MonitoringSettings:
    gpu_interval: float = _setting(
        1.0,
        parse_seconds,
        "PYCLUSTER_MONITORING_GPU_INTERVAL",
        doc="How often GPUs are read (seconds or a duration).",
    )
    metrics_interval: float = _setting(
        2.0,
        parse_seconds,
        "PYCLUSTER_MONITORING_METRICS_INTERVAL",
        doc="How often cluster metrics are sampled.",
    )
    metrics_retention: float = _setting(
        3600.0,
        parse_seconds,
        "PYCLUSTER_MONITORING_METRICS_RETENTION",
        doc="How long metric history is kept.",
    )
    alert_thresholds: dict[str, float] = _setting(
        {"gpu_temperature": 80.0, "gpu_memory": 0.95, "cluster_memory": 0.90},
        _thresholds,
        doc="Alert thresholds by name: gpu_temperature (Celsius), gpu_memory and cluster_memory (shares).",
    )


def _path_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [p for p in value.split(os.pathsep) if p.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value):
        return list(value)
    raise ValueError(f"{value!r} is not a list of folders (in the environment: separated by {os.pathsep!r})")


@dataclass
class DataSettings:
    roots: list[str] = _setting(
        [],
        _path_list,
        "PYCLUSTER_DATA_ROOTS",
        doc="Folders the head may read datasets from (in the environment: separated by the path separator).",
    )
    allow_remote_urls: bool = _setting(
        False,
        parse_bool,
        "PYCLUSTER_DATA_ALLOW_REMOTE_URLS",
        doc="Allow datasets at fsspec URLs (s3://, https://, ...).",
    )


_SECTIONS: dict[str, type] = {
    "cluster": ClusterSettings,
    "jobs": JobSettings,
    "data": DataSettings,
    "gpu": GPUSettings,
    "llm": LLMSettings,
    "monitoring": MonitoringSettings,
}


def flat_key(section: str, key: str) -> str:
    """The one-word name of ``section.key``: in saved configs (``pycluster config save``) and,
    upper-cased after ``PYCLUSTER_``, in the environment. Cluster keys are bare (``scheduler_port``)
    but for ``name``, which is ``cluster_name`` as the documents spell it; the other sections'
    keys take the section first (``gpu_memory_fraction``)."""
    if section == "cluster":
        return "cluster_name" if key == "name" else key
    return f"{section}_{key}"


def env_name(section: str, key: str) -> str:
    """``section.key``'s environment variable: ``PYCLUSTER_`` and its :func:`flat_key`, upper-cased.

    >>> env_name("cluster", "scheduler_port"), env_name("gpu", "memory_fraction")
    ('PYCLUSTER_SCHEDULER_PORT', 'PYCLUSTER_GPU_MEMORY_FRACTION')
    """
    return f"PYCLUSTER_{flat_key(section, key).upper()}"


@dataclass(frozen=True)
class SettingKey:
    """One setting under its names: ``section.key`` (pycluster.yaml), ``flat`` and ``env``."""

    section: str
    key: str
    flat: str
    env: tuple[str, ...]  # the canonical name first, then older names still read
    doc: str
    default: Any
    type: Any  # the field's annotation, resolved
    parse: Parser
    secret: bool


def setting_keys() -> list[SettingKey]:
    """Every setting, section by section in the file's order."""
    import typing

    keys = []
    for section, section_cls in _SECTIONS.items():
        hints = typing.get_type_hints(section_cls)
        defaults = section_cls()
        for f in fields(section_cls):
            canonical = env_name(section, f.name)
            aliases = tuple(name for name in f.metadata["env"] if name != canonical)
            keys.append(
                SettingKey(
                    section,
                    f.name,
                    flat_key(section, f.name),
                    (canonical, *aliases),
                    f.metadata["doc"],
                    getattr(defaults, f.name),
                    hints[f.name],
                    f.metadata["parse"],
                    f.metadata["secret"],
                )
            )
    return keys


@dataclass
class Settings:
    """All of pycluster's settings, by section."""

    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    data: DataSettings = field(default_factory=DataSettings)
    gpu: GPUSettings = field(default_factory=GPUSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    source_file: str | None = None

    @classmethod
    def load(
        cls,
        config_path: str | os.PathLike[str] | bool | None = None,
        env: Mapping[str, str] | None = None,
        *,
        config_values: Mapping[str, Any] | None = None,
        config_source: str = "config values",
        **overrides: Any,
    ) -> Settings:
        """Layer defaults, the YAML file, the environment and ``overrides`` (highest).

        ``overrides`` are ``section__key`` or plain cluster keys (``scheduler_port=0``);
        ``None`` means "not given". ``config_path=False`` skips every file.
        ``config_values`` (sections, as in the YAML file) sit at the file's level, so
        a saved cluster config behaves like a config file; ``config_source`` names it
        in error messages.
        """
        env = os.environ if env is None else env
        settings = cls()
        path = _config_file(config_path, env)
        if path is not None:
            settings.source_file = str(path)
            for section, key, value in _read_yaml(path):
                _apply(settings, section, key, value, f"{path}")
        if config_values is not None:
            settings.source_file = config_source
            for section, key, value in _section_items(config_values, config_source):
                _apply(settings, section, key, value, config_source)
        for section, key, env_name, value in _env_values(env):
            _apply(settings, section, key, value, f"environment variable {env_name}")
        for name, value in overrides.items():
            if value is None:
                continue
            section, _, key = name.rpartition("__")
            _apply(settings, section or "cluster", key, value, f"argument {key}")
        return settings

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dict(vars(getattr(self, name))) for name in _SECTIONS}


def _config_file(config_path: Any, env: Mapping[str, str]) -> Path | None:
    if config_path is False:
        return None
    explicit = config_path or env.get("PYCLUSTER_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; check the path or unset PYCLUSTER_CONFIG")
        return path
    default = Path.cwd() / "pycluster.yaml"
    return default if default.is_file() else None


def _read_yaml(path: Path) -> list[tuple[str, str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return _section_items(data, f"config file {path}")


def _section_items(data: Any, source: str) -> list[tuple[str, str, Any]]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} must be a mapping with sections {', '.join(_SECTIONS)}")
    items: list[tuple[str, str, Any]] = []
    for section, values in data.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown section {section!r} in {source}; allowed sections: {', '.join(_SECTIONS)}"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"section {section!r} in {source} must be a mapping of keys to values")
        items.extend((section, str(key), value) for key, value in values.items())
    return items


def _env_values(env: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    found = []
    for setting in setting_keys():
        # later names are older ones and the documents' aliases; applied first, so the canonical wins
        for name in reversed(setting.env):
            if name in env:
                found.append((setting.section, setting.key, name, env[name]))
    return found


def _apply(settings: Settings, section: str, key: str, value: Any, source: str) -> None:
    if section not in _SECTIONS:
        raise ConfigError(f"unknown settings section {section!r} (from {source})")
    target = getattr(settings, section)
    known = {f.name: f for f in fields(target)}
    if key not in known:
        raise ConfigError(
            f"unknown setting {section}.{key} (from {source}); allowed keys: {', '.join(known)}"
        )
    try:
        parsed = known[key].metadata["parse"](value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value for {section}.{key} (from {source}): {exc}") from None
    setattr(target, key, parsed)
