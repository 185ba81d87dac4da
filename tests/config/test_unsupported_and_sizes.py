"""The GPU and LLM settings the PyCluster v2 document lists: each acts, or is refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycluster import ConfigError, Settings
from pycluster.llm.resources import LLMResourceManager
from pycluster.llm.spec import ModelSpec
from tests.config.document import DOCUMENT_YAML


def _gpus(total: float = 24e9, used: float = 0.0) -> list[dict[str, object]]:
    return [
        {"host": "h", "id": i, "memory_total": total, "memory_free": total - used, "workers": ["w"]}
        for i in range(2)
    ]


def test_the_documents_yaml_and_environment_still_load(tmp_path: Path) -> None:
    path = tmp_path / "pycluster.yaml"
    path.write_text(DOCUMENT_YAML)
    env = {
        "PYCLUSTER_GPU_MEMORY_FRACTION": "0.9",
        "PYCLUSTER_GPU_ALLOW_GROWTH": "true",
        "PYCLUSTER_MAX_MODEL_SIZE": "70b",
        "PYCLUSTER_DEFAULT_PRECISION": "fp16",
    }
    s = Settings.load(path, env=env)
    assert (s.gpu.memory_fraction, s.gpu.allow_growth) == (0.9, True)
    assert (s.llm.max_model_size, s.llm.default_precision, s.llm.max_concurrent_requests) == (
        "70b",
        "fp16",
        100,
    )


def test_allow_growth_false_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"PYCLUSTER_GPU_ALLOW_GROWTH.*not supported"):
        Settings.load(False, env={"PYCLUSTER_GPU_ALLOW_GROWTH": "false"})
    path = tmp_path / "pycluster.yaml"
    path.write_text("gpu:\n  allow_growth: false\n")
    with pytest.raises(ConfigError, match=r"gpu.allow_growth.*not supported"):
        Settings.load(path, env={})


@pytest.mark.parametrize("bad", ["huge", "-7b", "7 gigs", "0b"])
def test_max_model_size_must_be_a_parameter_count(bad: str) -> None:
    with pytest.raises(ConfigError, match="PYCLUSTER_MAX_MODEL_SIZE"):
        Settings.load(False, env={"PYCLUSTER_MAX_MODEL_SIZE": bad})
    assert Settings.load(False, env={"PYCLUSTER_MAX_MODEL_SIZE": "1.3B"}).llm.max_model_size == "1.3b"


def test_default_precision_and_request_limit_are_checked() -> None:
    with pytest.raises(ConfigError, match="PYCLUSTER_DEFAULT_PRECISION"):
        Settings.load(False, env={"PYCLUSTER_DEFAULT_PRECISION": "fp8"})
    with pytest.raises(ConfigError, match="PYCLUSTER_LLM_MAX_CONCURRENT_REQUESTS"):
        Settings.load(False, env={"PYCLUSTER_LLM_MAX_CONCURRENT_REQUESTS": "0"})


def test_max_memory_per_gpu_12gb_is_parsed_like_every_size() -> None:
    assert ModelSpec("m", max_memory_per_gpu="12GB").max_memory_per_gpu == 12.0
    assert ModelSpec("m", max_memory_per_gpu="11GiB").max_memory_per_gpu == pytest.approx(11.811, rel=1e-3)
    assert ModelSpec("m", max_memory_per_gpu=12).max_memory_per_gpu == 12.0
    with pytest.raises(ConfigError, match="max_memory_per_gpu"):
        ModelSpec("m", max_memory_per_gpu="lots")
    rm = LLMResourceManager()
    # the document's optimized DeepSeek deployment on two 24 GB GPUs: placement no longer raises TypeError
    options = {"precision": "fp16", "gpu_per_replica": 2, "batch_size": 1}
    assert rm.plan("7b", _gpus(), max_memory_per_gpu="12GB", **options)["fits"] is True  # ~8 GB a GPU
    assert rm.plan("7b", _gpus(), max_memory_per_gpu="4GB", **options)["fits"] is False


def test_memory_fraction_leaves_the_rest_of_each_gpu_free() -> None:
    rm = LLMResourceManager()
    # 7b at fp16 on one GPU needs ~16 GB: a 24 GB GPU holds it at 0.9 (21.6 GB), not at 0.5 (12 GB)
    assert rm.plan("7b", _gpus(), precision="fp16", batch_size=1, memory_fraction=0.9)["fits"] is True
    refused = rm.plan("7b", _gpus(), precision="fp16", batch_size=1, memory_fraction=0.5)
    assert refused["fits"] is False
    # memory others already use counts against the fraction too: 6 GB used, 0.9 -> 15.6 GB usable
    assert (
        rm.plan("7b", _gpus(used=6e9), precision="fp16", batch_size=1, memory_fraction=0.9)["fits"] is False
    )
    assert rm.plan("7b", _gpus(used=6e9), precision="fp16", batch_size=1)["fits"] is True
