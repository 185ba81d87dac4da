"""One naming for pycluster.yaml, saved configs and the environment, and the JSON schema drawn from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from pycluster import ConfigError
from pycluster.config import Settings, env_name, setting_keys
from pycluster.config_schema import json_schema, schema_text
from pycluster.platform import config_store
from pycluster.platform.scripts import head_arguments
from tests.config.document import DOCUMENT_YAML
from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "pycluster.schema.json"


def test_the_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/pycluster.schema.json is stale: run `pycluster config schema -o docs/pycluster.schema.json`"
    )
    printed = cli("config", "schema")
    assert printed.returncode == 0 and printed.stdout == schema_text()


def test_the_schema_accepts_the_documents_file_and_catches_a_misspelling() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    jsonschema.Draft202012Validator.check_schema(json_schema())
    assert list(validator.iter_errors(yaml.safe_load(DOCUMENT_YAML))) == []
    assert list(validator.iter_errors({"cluster": {"memory_limit": "4GiB", "discovery_port": None}})) == []
    errors = [e.message for e in validator.iter_errors({"cluster": {"schedular_port": 1}, "gpus": {}})]
    assert any("'schedular_port' was unexpected" in m for m in errors), errors
    assert any("'gpus' was unexpected" in m for m in errors), errors
    port = json_schema()["properties"]["cluster"]["properties"]["scheduler_port"]
    assert port["default"] == 8786 and "PYCLUSTER_SCHEDULER_PORT" in port["description"]
    # secrets never get a default shown, and every setting has a description
    keys = setting_keys()
    assert all(k.doc for k in keys), [k.key for k in keys if not k.doc]


def test_every_setting_has_one_name_per_place_and_old_names_still_work() -> None:
    for k in setting_keys():
        # the environment's name is PYCLUSTER_ and the saved-config key, upper-cased
        assert k.env[0] == env_name(k.section, k.key) == f"PYCLUSTER_{k.flat.upper()}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", k.flat)
    assert len({k.flat for k in setting_keys()}) == len(setting_keys())
    new = Settings.load(False, env={"PYCLUSTER_JOBS_MAX_CONCURRENT_JOBS": "7", "PYCLUSTER_JOB_RETRIES": "1"})
    assert (new.jobs.max_concurrent_jobs, new.jobs.default_retries) == (7, 1)
    both = {"PYCLUSTER_LLM_DEFAULT_PRECISION": "bf16", "PYCLUSTER_DEFAULT_PRECISION": "fp32"}
    assert Settings.load(False, env=both).llm.default_precision == "bf16"  # the canonical name wins
    thresholds = Settings.load(False, env={"PYCLUSTER_MONITORING_ALERT_THRESHOLDS": '{"gpu_memory": 0.5}'})
    assert thresholds.monitoring.alert_thresholds == {"gpu_memory": 0.5}
    with pytest.raises(ConfigError, match="PYCLUSTER_MONITORING_ALERT_THRESHOLDS"):
        Settings.load(False, env={"PYCLUSTER_MONITORING_ALERT_THRESHOLDS": "[1, 2]"})


def test_config_save_takes_yaml_and_flat_keys_of_every_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYCLUSTER_CONFIG_DIR", str(tmp_path))
    saved = cli(
        "config", "save", "gpu-box", "cluster.name=gpu box", "gpu.memory_fraction=0.5",
        "jobs_max_concurrent_jobs=2", "discovery_port=",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    stored = json.loads((tmp_path / "gpu-box.json").read_text())
    assert stored == {
        "cluster_name": "gpu box",
        "gpu_memory_fraction": 0.5,
        "jobs_max_concurrent_jobs": 2,
        "discovery_port": None,
    }
    settings = Settings.load(False, env={}, config_values=config_store.settings_values(stored))
    assert (settings.cluster.name, settings.gpu.memory_fraction) == ("gpu box", 0.5)
    assert (settings.jobs.max_concurrent_jobs, settings.cluster.discovery_port) == (2, None)
    bad = cli("config", "save", "gpu-box", "gpu.memory_fraction=2")
    assert bad.returncode == 1 and "bad value for gpu_memory_fraction" in bad.stderr, bad.stderr
    unknown = cli("config", "save", "gpu-box", "gpu.memory=2")
    assert unknown.returncode == 1 and "unknown keys ['gpu_memory']" in unknown.stderr, unknown.stderr
    # a startup script passes head options only: it refuses what it could not pass on
    with pytest.raises(ConfigError, match="cannot carry gpu_memory_fraction, jobs_max_concurrent_jobs"):
        head_arguments(stored)
