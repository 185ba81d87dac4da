"""LLM serving on real NVIDIA GPUs: the tiny local model on GPU workers, through both engines (issue 10).

Runs where a GPU, its driver and torch with CUDA are present (the device machine); elsewhere
every test is skipped with a reason that says what it would have checked. vLLM tests also
need vllm importable on the workers.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import HeadNode, LLMClusterManager, ModelDoesNotFitError, WorkerNode
from tests.gpu.test_real_gpu import STATUS, needs_gpu, needs_torch_cuda
from tests.llm.tiny_model import CONTEXT, build_tiny_model

pytestmark = pytest.mark.gpu

PROMPT = "the quick brown fox"
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def needs_gpus(count: int, what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        STATUS.count < count,
        reason=f"not run: {what} (needs {count} NVIDIA GPUs, this machine has {STATUS.count})",
    )


def needs_vllm(what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not HAS_VLLM, reason=f"not run: {what} (vllm is not installed here)")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return build_tiny_model(Path(tempfile.mkdtemp()) / "tiny")


def _head_with_gpu_workers(gpus_per_worker: int) -> tuple[HeadNode, WorkerNode]:
    head = HeadNode(
        "llm-gpu", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, state_dir=tempfile.mkdtemp()
    )
    head.start(n_local_workers=0)
    node = WorkerNode(head.scheduler_address, worker_name="gpu")
    node.start(gpus="all", gpus_per_worker=gpus_per_worker, threads_per_worker=1)
    return head, node


@pytest.fixture(scope="module")
def gpu_llm() -> Iterator[LLMClusterManager]:
    if not STATUS.available:
        pytest.skip(f"not run: LLM replicas on GPU workers (no NVIDIA GPU here: {STATUS.reason})")
    head, node = _head_with_gpu_workers(1)
    try:
        yield LLMClusterManager(head.cluster_manager)
    finally:
        node.shutdown()
        head.shutdown()


def _direct_cuda(model_dir: Path, prompt: str, max_tokens: int) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to("cuda").eval()
    ids = tok(prompt, return_tensors="pt")["input_ids"].to("cuda")
    out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


@needs_gpu("transformers replica on a GPU worker: on cuda, greedy text == model.generate on the GPU")
def test_transformers_replica_runs_on_the_gpu(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    needs_torch_cuda("transformers replica on a GPU worker")
    dep = gpu_llm.deploy_model(
        str(model_dir),
        precision="fp32",
        engine="transformers",
        gpu_per_replica=1,
        max_sequence_length=CONTEXT,
    )
    try:
        stats = gpu_llm.replica_stats(dep)[0]
        assert stats["device"].startswith("cuda") and stats["engine"] == "transformers"
        worker = gpu_llm.get_deployment(dep)["replica_details"][0]["worker"]
        resources = gpu_llm.cluster_manager.client.scheduler_info()["workers"][worker]["resources"]
        assert resources.get("GPU") == 1
        assert gpu_llm.inference(dep, PROMPT, max_tokens=12)["text"] == _direct_cuda(model_dir, PROMPT, 12)
    finally:
        gpu_llm.undeploy(dep)


@needs_gpu("fp16 on a GPU: the deployment keeps fp16 (no CPU fallback note) and answers")
def test_fp16_stays_fp16_on_a_gpu(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    needs_torch_cuda("fp16 replica on a GPU worker")
    dep = gpu_llm.deploy_model(
        str(model_dir), precision="fp16", engine="transformers", max_sequence_length=CONTEXT
    )
    try:
        info = gpu_llm.get_deployment(dep)
        assert info["precision"] == "fp16" and not any("CPU" in n for n in info["notes"])
        assert gpu_llm.inference(dep, PROMPT, max_tokens=5)["tokens_generated"] >= 1
    finally:
        gpu_llm.undeploy(dep)


@needs_gpu("a model larger than every free GPU is refused before anything loads")
def test_a_model_that_cannot_fit_is_refused(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    with pytest.raises(ModelDoesNotFitError, match="needs ~"):
        gpu_llm.deploy_model(str(model_dir), model_size="400b", precision="fp16", gpu_per_replica=1)
    assert gpu_llm.list_deployments() == []


@needs_gpu("engine='vllm' on a GPU worker: greedy text == the transformers engine's")
@needs_vllm("engine='vllm' on a GPU worker: greedy text == the transformers engine's")
def test_vllm_engine_matches_transformers(gpu_llm: LLMClusterManager, model_dir: Path) -> None:
    options = {"precision": "fp32", "gpu_per_replica": 1, "max_sequence_length": CONTEXT}
    hf = gpu_llm.deploy_model(str(model_dir), engine="transformers", **options)
    expected = gpu_llm.inference(hf, PROMPT, max_tokens=10)
    gpu_llm.undeploy(hf)
    dep = gpu_llm.deploy_model(str(model_dir), engine="vllm", **options)
    try:
        assert gpu_llm.replica_stats(dep)[0]["engine"] == "vllm"
        got = gpu_llm.inference(dep, PROMPT, max_tokens=10)
        assert got["tokens_generated"] == expected["tokens_generated"]
        assert got["text"] == expected["text"]
        cut = gpu_llm.inference(dep, PROMPT, max_tokens=10, stop_sequences=[got["text"][3:5]])
        assert cut["finish_reason"] == "stop" and len(cut["text"]) < len(got["text"])
    finally:
        gpu_llm.undeploy(dep)


@pytest.mark.parametrize(
    ("engine", "strategy"),
    [
        pytest.param(
            "transformers", "pipeline_parallel", marks=needs_gpus(2, "transformers pipeline_parallel")
        ),
        pytest.param(
            "vllm",
            "tensor_parallel",
            marks=[needs_gpus(2, "vLLM tensor_parallel_size=2"), needs_vllm("vLLM tensor_parallel_size=2")],
        ),
        pytest.param(
            "vllm",
            "pipeline_parallel",
            marks=[
                needs_gpus(2, "vLLM pipeline_parallel_size=2"),
                needs_vllm("vLLM pipeline_parallel_size=2"),
            ],
        ),
    ],
)
def test_one_replica_across_two_gpus(model_dir: Path, engine: str, strategy: str) -> None:
    needs_torch_cuda(f"{engine} {strategy} across 2 GPUs")
    head, node = _head_with_gpu_workers(2)
    try:
        llm = LLMClusterManager(head.cluster_manager)
        dep = llm.deploy_model(
            str(model_dir),
            precision="fp32",
            engine=engine,
            gpu_per_replica=2,
            sharding_strategy=strategy,
            max_sequence_length=CONTEXT,
        )
        assert llm.inference(dep, PROMPT, max_tokens=10)["text"] == _direct_cuda(model_dir, PROMPT, 10)
        llm.undeploy(dep)
    finally:
        node.shutdown()
        head.shutdown()
