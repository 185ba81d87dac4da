"""``pycluster head --launcher``: workers as batch jobs through dask-jobqueue.

The SLURM test runs a real single-node SLURM cluster (see ``slurm_cluster.py``); the job
scripts of PBS, SGE and LSF are checked as dask-jobqueue writes them (no such scheduler here).
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pycluster.cluster.launchers import LaunchedWorkers, LauncherSettings
from pycluster.cluster.security import cluster_security, generate_key
from pycluster.errors import ConfigError

from ..helpers import BIN, CliProcess, cli, running_head, wait_for
from .slurm_cluster import SlurmCluster, why_not_available

HEAD_OPTIONS = (
    "--scheduler-port",
    "0",
    "--dashboard-port",
    "0",
    "--dask-dashboard-port",
    "off",
    "--no-discovery",
)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    reason = why_not_available()
    if reason:
        if os.environ.get("CI") == "true" and os.geteuid() == 0:  # .ci/run installs it as root
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_workers_arrive_as_slurm_jobs_run_a_map_and_leave_when_idle(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    from distributed import Client, as_completed

    key = generate_key()
    head = CliProcess(
        "head",
        "--cluster-name",
        "slurmtest",
        "--launcher",
        "slurm",
        "--adapt",
        "0:2",
        "--job-memory",
        "1GB",
        "--state-dir",
        str(tmp_path / "state"),
        *HEAD_OPTIONS,
        env={"SLURM_CONF": str(slurm.conf), "PYCLUSTER_AUTH_KEY": key},
    )
    try:
        address = head.wait_for_line(r"scheduler:\s+(tls://\S+)", timeout=60).group(1)
        head.wait_for_line(r"adaptive scaling: 0 to 2 slurm worker jobs")
        assert slurm.jobs() == [], "minimum 0: no job before there is work"
        with Client(address, security=cluster_security(key), timeout=30) as client:
            submitted, wall = time.monotonic(), time.time()
            futures = client.map(pow, range(40), [2] * 40)  # importable on the head too
            first = next(iter(as_completed(futures))).result()
            to_first = time.monotonic() - submitted
            print(f"\nSLURM: {to_first:.1f} s from submit to first result (workers started as batch jobs)")
            print(f"  of which: {_steps(head.output, wall)}")
            assert first in {x * x for x in range(40)}
            jobs = slurm.jobs()
            workers = {w["name"] for w in client.scheduler_info()["workers"].values()}
            assert workers and workers <= {name for _, name, _ in jobs}, (workers, jobs)
            assert all(name.startswith("slurmtest-") for _, name, _ in jobs)
            assert len(jobs) <= 2, f"--adapt 0:2 bounds the jobs: {jobs}"
            assert sorted(client.gather(futures)) == [x * x for x in range(40)]

            # the key reached the workers (they joined over TLS) but is nowhere SLURM keeps
            # job scripts and environments, nor on any command line
            spool = [p for p in slurm.root.rglob("*") if p.is_file() and "munge" not in p.parts]
            assert spool and not [p for p in spool if key.encode() in p.read_bytes()]
            for proc in psutil.process_iter(["cmdline"]):
                assert key not in " ".join(proc.info["cmdline"] or []), proc
            key_file = tmp_path / "state" / "launcher" / "cluster_key"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

            del futures, first  # nothing held: idle workers retire and their jobs end
            wait_for(lambda: not client.scheduler_info()["workers"], 60, what="the workers to retire")
        wait_for(lambda: slurm.jobs() == [], 30, what="the SLURM jobs to end")
        assert "submitting" in head.output
    finally:
        head.stop()
    assert not key_file.exists(), "the key copy goes with the head"


@pytest.mark.slow
def test_stopping_the_head_cancels_its_worker_jobs(slurm: SlurmCluster, tmp_path: Path) -> None:
    head = CliProcess(
        "head",
        "--cluster-name",
        "slurmstop",
        "--launcher",
        "slurm",
        "--adapt",
        "1:1",  # a minimum of 1: a job at once, with no work
        "--job-memory",
        "1GB",
        "--state-dir",
        str(tmp_path / "state"),
        *HEAD_OPTIONS,
        env={"SLURM_CONF": str(slurm.conf)},
    )
    try:
        head.wait_for_line(r"submitted worker slurmstop-0", timeout=60)
        running = [("slurmstop-0", "RUNNING")]
        wait_for(lambda: [(name, state) for _, name, state in slurm.jobs()] == running, 30, what="the job")
    finally:
        assert head.stop() == 0, head.output
    assert slurm.jobs() == [], "a job left behind would hold its node until its walltime"


@pytest.mark.slow
def test_jobs_whose_worker_cannot_start_are_not_resubmitted_forever(
    slurm: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    # a "python" that exits at once: each job ends without a worker ever joining
    settings = LauncherSettings.create(
        "slurm", tmp_path / "jobs", memory="1GB", python="/bin/false", poll_interval=0.5
    )
    with running_head("slurmfail", tmp_path / "state", workers=0) as head:
        launched = head.use_launcher(settings)
        head.adapt(1, 1, interval=0.5)
        wait_for(lambda: launched.gave_up, 60, what="the launcher to give up")
        time.sleep(2)  # several adaptive intervals: nothing more is submitted
        assert slurm.jobs() == []
        ran = {p.stem for p in launched.log_directory.glob("*.err")}  # slurmfail-<n>-<job id>
        assert len(ran) == settings.max_failures == 3, ran
        assert "3 worker jobs in a row ended before their worker joined" in launched.gave_up
        assert not head.scheduler.workers


def _steps(log: str, start: float) -> str:
    """Seconds after ``start`` of the head's first job submission and first worker joining."""
    from datetime import datetime

    def first(pattern: str) -> str:
        match = re.search(rf"^(\S+ \S+) INFO .*{pattern}", log, re.M)
        if match is None:
            return "?"
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        return f"{at - start:.1f} s"

    submitted, joined = first("submitted worker"), first("worker joined")
    return f"first job submitted at {submitted}, first worker joined at {joined}"


def test_unknown_launcher_and_missing_submit_command_name_the_fix(tmp_path: Path) -> None:
    unknown = cli("head", "--launcher", "torque", "--state-dir", str(tmp_path), *HEAD_OPTIONS)
    assert unknown.returncode != 0
    assert "unknown launcher 'torque': use one of slurm, pbs, sge, lsf" in unknown.stderr + unknown.stdout
    # a PATH with no SLURM on it: the head says where sbatch should come from, before starting
    missing = cli(
        "head",
        "--launcher",
        "slurm",
        "--state-dir",
        str(tmp_path),
        *HEAD_OPTIONS,
        env={**os.environ, "PATH": str(BIN)},
    )
    assert missing.returncode != 0
    said = missing.stderr + missing.stdout
    assert "'sbatch', which is not on PATH" in said and "login node" in said, said
    with pytest.raises(ConfigError, match="--job-memory"):
        LauncherSettings.create("slurm", tmp_path, memory="lots", path=str(_fake_tools(tmp_path)))


def _fake_tools(tmp_path: Path) -> Path:
    """Empty programs named like the submit commands: the settings only check they are on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in ("sbatch", "qsub", "bsub"):
        (folder / name).write_text("#!/bin/sh\nexit 1\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("kind", "directive"), [("slurm", "#SBATCH"), ("pbs", "#PBS"), ("sge", "#$"), ("lsf", "#BSUB")]
)
def test_job_scripts_run_our_worker_with_the_key_from_a_private_file(
    kind: str, directive: str, tmp_path: Path
) -> None:
    key = generate_key()
    settings = LauncherSettings.create(
        kind,
        tmp_path / "shared",
        cores=4,
        memory="8GB",
        queue="batch",
        walltime="01:00:00",
        account="proj42",
        path=str(_fake_tools(tmp_path)),
    )
    launched = LaunchedWorkers(settings, "tls://10.1.2.3:8786", key, "my head")
    script = launched.make_job().job_script()
    assert key not in script
    assert f"{directive} " in script and "batch" in script and "proj42" in script
    assert "-m pycluster worker tls://10.1.2.3:8786 --name my-head-0 --nthreads 4" in script
    assert f'PYCLUSTER_AUTH_KEY="$(cat {tmp_path}/shared/cluster_key)"' in script
    key_file = tmp_path / "shared" / "cluster_key"
    assert key_file.read_text().strip() == key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
