"""cluster_info_<name>.txt: written by a running head into the config folder, removed at stop.

The PyCluster documents list ``cluster_info_*.txt`` (cluster connection information) in the
config folder; the join command it holds must join a worker as written, and the key never
appears in it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycluster import ClusterError, HeadNode
from pycluster.cluster.cluster_info import ClusterInfoFile, read_cluster_info
from tests.helpers import BIN, CliProcess, wait_for


@pytest.fixture(scope="module")
def info_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    node = HeadNode(
        "info-cluster",
        scheduler_port=0,
        dashboard_port=0,
        dask_dashboard_port=0,
        services=(),
        state_dir=str(tmp_path_factory.mktemp("info-state")),
    )
    node.start(n_local_workers=1, threads_per_worker=1)
    yield node
    node.shutdown()


def test_the_file_is_in_the_config_folder_and_names_the_head(info_head: HeadNode) -> None:
    path = info_head.cluster_info_file
    assert path is not None and path.name == "cluster_info_info-cluster.txt"
    # the config folder of the session (where saved configs and startup scripts go too)
    assert path.parent == Path(os.environ["PYCLUSTER_CONFIG_DIR"]).parent / path.parent.name
    info = read_cluster_info("info-cluster", path.parent)
    assert info.scheduler_address == info_head.scheduler_address
    assert info.dashboard_url is None  # this head runs no web app
    assert info.pid == os.getpid()
    text = path.read_text()
    assert info_head.auth_key and info_head.auth_key not in text  # never the key
    assert "cluster_key" in info.cluster_key  # says where it is instead


def test_the_join_command_in_the_file_joins_a_worker(info_head: HeadNode) -> None:
    assert info_head.cluster_info_file is not None
    info = read_cluster_info("info-cluster", info_head.cluster_info_file.parent)
    program, *args = shlex.split(info.join_command)
    assert program == "pycluster"
    worker = subprocess.Popen(
        [str(BIN / program), *args, "--workers", "1", "--threads", "1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        client = info_head.cluster_manager.client
        wait_for(lambda: len(client.nthreads()) == 2, 60, what="the joined worker")
    finally:
        worker.terminate()
        worker.wait(30)


def test_stopping_the_head_removes_its_file_only(tmp_path: Path) -> None:
    head = HeadNode(
        "gone-cluster", scheduler_port=0, dask_dashboard_port=0, services=(), state_dir=str(tmp_path)
    )
    head.start()
    path = head.cluster_info_file
    assert path is not None and path.is_file()
    head.shutdown()
    assert not path.exists() and head.cluster_info_file is None
    # a later head of the same name replaced the file: an earlier head's stop leaves it
    other = ClusterInfoFile("gone-cluster", "tcp://127.0.0.1:1", None, None, "pycluster worker", "none")
    path.write_text(other.to_text())
    head.shutdown()
    assert read_cluster_info("gone-cluster", path.parent).scheduler_address == "tcp://127.0.0.1:1"
    # a file left by a head that was killed (its pid gone) is not taken for a running head
    stale = ClusterInfoFile("gone-cluster", "tcp://127.0.0.1:1", None, None, "x", "none", pid=_ended_pid())
    path.write_text(stale.to_text())
    with pytest.raises(ClusterError, match="no longer runs"):
        read_cluster_info("gone-cluster", path.parent)
    assert not path.exists()


def _ended_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_name_with_slashes_stays_one_file_in_the_folder(tmp_path: Path) -> None:
    from pycluster.cluster.cluster_info import cluster_info_path

    assert cluster_info_path("../a b/c", tmp_path) == tmp_path / "cluster_info__a_b_c.txt"


@pytest.mark.slow
def test_the_documents_head_command_writes_it_and_sigterm_removes_it() -> None:
    # the documents' `pycluster-head --cluster-name production --local-workers 2 --open-dashboard`,
    # with free ports, no local workers and no browser
    head = CliProcess(
        "--cluster-name",
        "production",
        "--local-workers",
        "0",
        "--scheduler-port",
        "0",
        "--dashboard-port",
        "0",
        "--dask-dashboard-port",
        "off",
        program="pycluster-head",
    )
    try:
        address = head.wait_for_line(r"scheduler:\s+(tls://\S+)").group(1)
        folder = Path(os.environ["PYCLUSTER_CONFIG_DIR"])
        info = wait_for(lambda: _read_or_none("production", folder), 30, what="cluster_info_production.txt")
        assert info.scheduler_address == address and info.pid == head.proc.pid
        assert info.dashboard_url and info.dashboard_url.startswith("http://127.0.0.1:")
        head.proc.send_signal(signal.SIGTERM)
        assert head.proc.wait(30) == 0
        assert not (folder / "cluster_info_production.txt").exists()
    finally:
        head.stop()


def _read_or_none(name: str, folder: Path) -> ClusterInfoFile | None:
    try:
        return read_cluster_info(name, folder)
    except ClusterError:
        return None
