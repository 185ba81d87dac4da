"""LLM serving on real NVIDIA GPUs (transformers pipeline_parallel, vLLM tensor_parallel).

These run only where a GPU, torch with CUDA (and for vLLM, vllm) are present.
"""

from __future__ import annotations

import importlib.util

import pytest


def _cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


pytestmark = pytest.mark.skipif(
    not _cuda(),
    reason="not run: no NVIDIA GPU with torch+CUDA here, so GPU placement (resources={'GPU': n}), "
    "fp16 on CUDA, transformers pipeline_parallel and vLLM tensor_parallel were not exercised",
)


def test_gpu_deployment_places_on_a_gpu_worker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pycluster import HeadNode, LLMClusterManager
    from tests.llm.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "m")
    with HeadNode(
        "gpu-llm",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=False,
        state_dir=str(tmp_path / "s"),
    ) as head:
        head.start(n_local_workers=1, worker_resources={"GPU": 1})
        llm = LLMClusterManager(head.cluster_manager)
        dep = llm.deploy_model(str(model), gpu_per_replica=1, precision="fp16", max_sequence_length=128)
        assert llm.replica_stats(dep)[0]["device"].startswith("cuda")
        assert llm.inference(dep, "the quick", max_tokens=4)["tokens_generated"] >= 1
