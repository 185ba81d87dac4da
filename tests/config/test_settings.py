"""Settings: defaults < pycluster.yaml < environment < arguments, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycluster import ConfigError, Settings
from pycluster.units import parse_bytes, parse_memory_limit, parse_resources, parse_seconds
from tests.config.document import DOCUMENT_YAML


def test_the_documents_yaml_loads(tmp_path: Path) -> None:
    path = tmp_path / "pycluster.yaml"
    path.write_text(DOCUMENT_YAML)
    s = Settings.load(path, env={})
    assert s.cluster.name == "production-cluster"
    assert s.gpu.temperature_threshold == 85
    assert s.llm.model_cache_dir == "/models"
    assert s.monitoring.alert_thresholds["cluster_memory"] == 0.90


def test_precedence_argument_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = tmp_path / "pycluster.yaml"
    path.write_text("cluster:\n  scheduler_port: 9001\n  dashboard_port: 9002\n  api_port: 9003\n")
    env = {"PYCLUSTER_SCHEDULER_PORT": "9101", "PYCLUSTER_DASHBOARD_PORT": "9102"}
    s = Settings.load(path, env=env, scheduler_port=9201)
    assert s.cluster.scheduler_port == 9201  # argument
    assert s.cluster.dashboard_port == 9102  # environment
    assert s.cluster.api_port == 9003  # file
    assert s.cluster.discovery_port == 8788  # default


def test_cwd_pycluster_yaml_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pycluster.yaml").write_text("cluster:\n  name: from-cwd\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.load(env={}).cluster.name == "from-cwd"
    assert Settings.load(False, env={}).cluster.name == "pycluster"


def test_processing_cluster_dask_variables() -> None:
    env = {"DASK_N_WORKERS": "4", "DASK_THREADS_PER_WORKER": "2", "DASK_MEMORY_LIMIT": "2GB"}
    c = Settings.load(False, env=env).cluster
    assert (c.n_workers, c.threads_per_worker, c.memory_limit) == (4, 2, 2_000_000_000)
    # the PYCLUSTER_ name wins over the document's alias
    assert Settings.load(False, env={**env, "PYCLUSTER_N_WORKERS": "1"}).cluster.n_workers == 1


def test_human_units() -> None:
    assert parse_bytes("2GB") == 2_000_000_000
    assert parse_bytes("512 MiB") == 512 * 2**20
    assert parse_memory_limit("auto") == "auto"
    assert parse_memory_limit("0.5") == 0.5
    assert parse_seconds("5m") == 300
    assert parse_seconds("250ms") == 0.25
    assert parse_resources("GPU=1, FPGA=2") == {"GPU": 1.0, "FPGA": 2.0}
    s = Settings.load(False, env={"PYCLUSTER_MONITORING_METRICS_RETENTION": "1h"})
    assert s.monitoring.metrics_retention == 3600


def test_bad_env_value_names_key_source_and_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(False, env={"PYCLUSTER_SCHEDULER_PORT": "abc"})
    message = str(caught.value)
    assert "cluster.scheduler_port" in message
    assert "environment variable PYCLUSTER_SCHEDULER_PORT" in message
    assert "0 (pick a free one) to 65535" in message


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("cluster:\n  scheduler_port: 70000\n", r"cluster\.scheduler_port.*out of range"),
        ("cluster:\n  memory_limit: lots\n", r"cluster\.memory_limit.*allowed: \"auto\""),
        ("cluster:\n  shceduler_port: 1\n", r"unknown setting cluster\.shceduler_port.*scheduler_port"),
        ("clutser:\n  name: x\n", r"unknown section 'clutser'.*allowed sections: cluster"),
        ("llm:\n  default_precision: fp12\n", r"llm\.default_precision.*fp16"),
        ("cluster: [1, 2]\n", r"section 'cluster'.*must be a mapping"),
        ("cluster:\n  name: [unclosed\n", r"cannot read config file"),
    ],
)
def test_bad_file_values_name_the_file(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "pycluster.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as caught:
        Settings.load(path, env={})
    assert str(path) in str(caught.value)


def test_missing_config_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.yaml", env={})


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Settings.load(False, env={"DASK_MEMORY_LIMIT": "-1GB"})
