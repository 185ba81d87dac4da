"""Deployment state changes are logged at INFO under pycluster.llm (as jobs are): deploying,
each replica ready or failed (with the reason), stopped, undeployed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pycluster import DeploymentStateError, HeadNode, LLMClusterManager


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "pycluster.llm.manager" and r.levelno == logging.INFO
    ]


@pytest.mark.slow
def test_deploy_ready_stop_undeploy_and_a_failed_load_are_logged(
    llm_head: HeadNode,
    llm: LLMClusterManager,
    tiny_model: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pycluster")
    dep = llm.deploy_model(str(tiny_model), gpu_per_replica=0, max_sequence_length=128)
    llm.stop_deployment(dep)
    llm.undeploy(dep)
    logged = _messages(caplog)
    assert logged[0] == f"deployment {dep} ({tiny_model}) deploying 1 replica(s)", logged
    workers = set(llm_head.cluster_manager.client.nthreads())
    assert any(m.removeprefix(f"deployment {dep} replica 0 ready on ") in workers for m in logged), logged
    assert f"deployment {dep} ({tiny_model}) stopped" in logged
    assert logged[-1] == f"deployment {dep} ({tiny_model}) undeployed"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    caplog.clear()
    with pytest.raises(DeploymentStateError, match="failed") as refused:
        llm.deploy_model(str(broken), gpu_per_replica=0)
    failed = [m for m in _messages(caplog) if " replica 0 failed: " in m]
    # the log line carries the same reason the caller was given
    assert failed and failed[0].split(" failed: ", 1)[1] in str(refused.value), _messages(caplog)
