"""The container image's files (Dockerfile, compose.yaml, Kubernetes manifests) and the
image's entry point and health check, run for real outside a container.

No Docker daemon runs here, so the image itself is not built in this suite: what is
checked is that the files lint and validate, and that the commands the image runs
(entry point reading the key from a secret file, ``pycluster head``, the health check,
``pycluster worker``) work together as they would inside it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pycluster import ClusterManager
from pycluster.cluster.security import generate_key
from tests.helpers import BIN, CliProcess, wait_for

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
MANIFESTS = ROOT / "deploy" / "kubernetes" / "pycluster.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(BIN / "hadolint")
    lint = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_dockerfile_builds_a_non_root_head_image_with_a_health_check() -> None:
    steps = instructions()
    keywords = [k for k, _ in steps]
    assert keywords.count("FROM") == 2, "a build stage and a runtime stage"
    assert any(k == "RUN" and '".[${EXTRAS}]"' in a for k, a in steps)
    assert ("ARG", "EXTRAS=complete") in steps
    user = next(a for k, a in steps if k == "USER")
    assert not user.startswith(("0", "root")), user
    exposed = " ".join(a for k, a in steps if k == "EXPOSE").split()
    assert exposed == ["8786", "8787", "8788/udp", "8789"]
    health = next(a for k, a in steps if k == "HEALTHCHECK")
    assert "pycluster-healthcheck" in health
    assert ("VOLUME", '["/var/lib/pycluster"]') in steps
    assert next(a for k, a in steps if k == "CMD").startswith('["pycluster", "head"')
    # the extra the image installs exists
    assert 'complete = ["pycluster[' in (ROOT / "pyproject.toml").read_text()


def test_compose_runs_a_head_and_scalable_workers_with_the_key_as_a_secret() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    head, worker = compose["services"]["head"], compose["services"]["worker"]
    for service in (head, worker):
        assert service["environment"]["PYCLUSTER_AUTH_KEY_FILE"] == "/run/secrets/cluster_key"
        assert service["secrets"] == ["cluster_key"]
        assert not any("pyc1-" in str(part) or "auth-key" in str(part) for part in service["command"])
    # scalable: no fixed name and no host port of its own
    assert "container_name" not in worker and "ports" not in worker
    assert worker["depends_on"]["head"]["condition"] == "service_healthy"
    assert "tls://head:8786" in worker["command"]
    assert compose["secrets"]["cluster_key"] == {"file": "./cluster_key"}
    assert "pycluster-state:/var/lib/pycluster" in head["volumes"]


def test_docker_compose_accepts_the_compose_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    if not plugin:
        pytest.skip("not run: `docker compose config` (the docker compose plugin is not installed here)")
    work = tmp_path / "project"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "*.pyc"))
    (work / "cluster_key").write_text(generate_key())
    check = subprocess.run(
        [str(docker), "compose", "config", "--quiet"], cwd=work, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr


def test_kubernetes_manifests_validate_against_the_api_schemas() -> None:
    import kubernetes_validate

    docs = [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    by_name: dict[str, Any] = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    head = by_name[("Deployment", "pycluster-head")]["spec"]
    assert head["replicas"] == 1 and head["strategy"]["type"] == "Recreate"  # one head per state dir
    container = head["template"]["spec"]["containers"][0]
    probe = container["readinessProbe"]["exec"]["command"]
    assert probe == ["python3", "/usr/local/bin/pycluster-healthcheck"]
    key_file = {"name": "PYCLUSTER_AUTH_KEY_FILE", "value": "/var/run/secrets/pycluster/cluster_key"}
    assert key_file in container["env"]
    worker = by_name[("Deployment", "pycluster-worker")]["spec"]["template"]["spec"]
    assert "tls://pycluster-head:8786" in worker["containers"][0]["args"]
    assert worker["securityContext"]["runAsNonRoot"] is True
    assert ("PersistentVolumeClaim", "pycluster-state") in by_name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], capture_output=True, text=True, timeout=30, env=env
    )


def test_entrypoint_refuses_a_missing_secret_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYCLUSTER_AUTH_KEY_FILE": str(tmp_path / "nowhere")}
    run = subprocess.run([str(ENTRYPOINT), "true"], capture_output=True, text=True, env=env, timeout=30)
    assert run.returncode == 78
    assert "cannot read" in run.stderr and "nowhere" in run.stderr


@pytest.mark.slow
def test_image_commands_run_a_head_and_a_worker_outside_the_container(tmp_path: Path) -> None:
    """What the image runs: the entry point turns the secret file into the key, the head
    starts with no local workers, the health check passes, and a worker joins with the key."""
    key = generate_key()
    key_file = tmp_path / "cluster_key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    scheduler_port, dashboard_port = _free_port(), _free_port()
    env = {
        "PYCLUSTER_AUTH_KEY_FILE": str(key_file),
        "PYCLUSTER_STATE_DIR": str(tmp_path / "state"),
        "PYCLUSTER_HOST": "127.0.0.1",  # the image says 0.0.0.0; tests stay on loopback
        "PYCLUSTER_SCHEDULER_PORT": str(scheduler_port),
        "PYCLUSTER_DASHBOARD_PORT": str(dashboard_port),
    }
    base = {k: v for k, v in os.environ.items() if k != "PYCLUSTER_AUTH_KEY"}
    health_env = {**base, **env}
    assert _healthcheck(health_env).returncode == 1  # nothing listens yet: unhealthy, and says why

    head_args = ["head", "--local-workers", "0", "--no-discovery", "--dask-dashboard-port", "off"]
    head = CliProcess(str(BIN / "pycluster"), *head_args, program=str(ENTRYPOINT), env=env)
    worker = None
    try:
        head.wait_for_line(r"scheduler:\s+tls://")
        wait_for(lambda: _healthcheck(health_env).returncode == 0, 60, what="the health check to pass")
        address = f"tls://127.0.0.1:{scheduler_port}"
        worker_args = ["worker", "--scheduler", address, "--workers", "1", "--threads", "1"]
        # as in another container: no connection file of the head to find the key in
        elsewhere = {**env, "PYCLUSTER_RUNTIME_DIR": str(tmp_path / "elsewhere")}
        worker = CliProcess(str(BIN / "pycluster"), *worker_args, program=str(ENTRYPOINT), env=elsewhere)
        worker.wait_for_line("PYCLUSTER-WORKERS-READY")
        # the key from the file is the cluster's: a client holding it runs a task
        with ClusterManager.connect(address, auth_key=key) as manager:
            assert manager.submit_task(lambda x: x * 2, 21).result(timeout=30) == 42
        assert _healthcheck(health_env).returncode == 0
    finally:
        if worker is not None:
            assert worker.stop() == 0, worker.output
        assert head.stop() == 0, head.output
