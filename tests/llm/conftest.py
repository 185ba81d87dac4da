from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="LLM tests need the llm extra (torch, transformers)")
pytest.importorskip("transformers", reason="LLM tests need the llm extra (torch, transformers)")

from pycluster import HeadNode, LLMClusterManager
from tests.helpers import running_head

from .tiny_model import build_tiny_model


@pytest.fixture(scope="module", autouse=True)
def _offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def llm_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    with running_head("llm-test", tmp_path_factory.mktemp("llm-state")) as node:
        yield node


@pytest.fixture(scope="module")
def llm(llm_head: HeadNode) -> LLMClusterManager:
    return LLMClusterManager(llm_head.cluster_manager)


@pytest.fixture(scope="module")
def deployment(llm: LLMClusterManager, tiny_model: Path) -> str:
    return llm.deploy_model(str(tiny_model), gpu_per_replica=0, batch_size=8, max_sequence_length=128)
