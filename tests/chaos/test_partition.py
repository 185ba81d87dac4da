"""A head and a worker in two network namespaces: the link between them is cut, then healed, then
made lossy and slow with ``tc netem``. The worker is dropped during the cut, is back after it, and
work finishes right under loss and delay. Figures are printed (``-s``).

Namespaces as in ``tests/net/netns.py`` (a bridge, no route out); root or CAP_NET_ADMIN, else skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CliProcess
from tests.net.netns import Namespaces, _ip, exec_prefix, namespaces

PYTHON = sys.executable
CUT_SECONDS = 10.0
TTL = "4s"  # the scheduler's patience with a silent worker: the test's, not the default 20 s
pytestmark = [
    pytest.mark.chaos,
    pytest.mark.slow,
    pytest.mark.netns,
    pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux only"),
]

# run inside the head's namespace: waits until the scheduler has `want` workers, then maps work
CLIENT = """
import sys, time
from distributed import Client
address, want, items, patience = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
started = time.monotonic()
with Client(address, timeout=20) as client:
    while len(client.nthreads()) != want:
        if time.monotonic() - started > patience:
            print(-1, 0)  # not within its patience
            sys.exit(0)
        time.sleep(0.1)
    waited = time.monotonic() - started
    mapped = time.monotonic()
    results = client.gather(client.map(lambda x: (time.sleep(0.05), x * x)[1], range(items), pure=False))
    assert results == [x * x for x in range(items)], results
    print(f"{waited:.2f} {time.monotonic() - mapped:.2f}")
"""


@pytest.fixture
def nets() -> Iterator[Namespaces]:
    if shutil.which("tc") is None:
        pytest.skip("partition test not run: the `tc` command (iproute2) is not installed")
    with namespaces({"head": 1, "worker": 2}) as created:
        yield created


def _client(
    nets: Namespaces, address: str, workers: int, items: int, patience: float = 60
) -> tuple[float, float]:
    """Seconds until the scheduler had ``workers`` workers (-1: not within ``patience``), and
    seconds to map ``items`` items on them."""
    done = subprocess.run(
        [*exec_prefix(nets["head"]), PYTHON, "-c", CLIENT, address, str(workers), str(items), str(patience)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    waited, mapped = done.stdout.split()
    return float(waited), float(mapped)


def test_partition_then_heal_then_loss_and_delay(nets: Namespaces, tmp_path: Path) -> None:
    prefix = exec_prefix(nets["head"])
    head = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "head", "--host", nets.addresses["head"],
        "--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off",
        "--no-discovery", "--local-workers", "0", "--state-dir", str(tmp_path), "--insecure",
        program=prefix[0], env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": TTL},
    )  # fmt: skip
    address = head.wait_for_line(r"scheduler:\s+(tcp://\S+)").group(1)
    prefix = exec_prefix(nets["worker"])
    worker = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "worker", "--scheduler", address, "--insecure",
        "--workers", "1", "--threads", "2", "--name", "far-worker", "--reconnect-timeout", "120",
        program=prefix[0],
    )  # fmt: skip
    try:
        worker.wait_for_line("PYCLUSTER-WORKERS-READY", 60)
        _, clean = _client(nets, address, 1, 40)

        # the cable is pulled for longer than worker-ttl (Dask allows no less than 5 s for one worker)
        _ip("-n", nets.switch, "link", "set", "p-worker", "down")
        cut_at = time.monotonic()
        dropped, _ = _client(nets, address, 0, 0, patience=CUT_SECONDS)
        _ip("-n", nets.switch, "link", "set", "p-worker", "up")
        healed_at = time.monotonic()
        _, after = _client(nets, address, 1, 40)
        rejoined = time.monotonic() - healed_at
        print(
            f"partition of {healed_at - cut_at:.1f}s (worker-ttl {TTL}): worker "
            + (f"dropped {dropped:.1f}s after the cut" if dropped >= 0 else f"not dropped in {CUT_SECONDS}s")
            + f"; working again {rejoined:.1f}s after the heal (a client's start included); "
            f"40 items: {clean:.2f}s before the cut, {after:.2f}s after the heal"
        )
        assert worker.proc.poll() is None, worker.output[-3000:]
        assert rejoined < 60

        netem = subprocess.run(
            [*exec_prefix(nets["worker"]), "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
             "delay", "40ms", "10ms", "loss", "5%"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if netem.returncode != 0:  # a kernel without sch_netem: the partition part has run all the same
            print(f"netem not run: `tc qdisc add ... netem` failed: {netem.stderr.strip()}")
            return
        _, lossy = _client(nets, address, 1, 40)
        print(f"netem 40±10 ms delay, 5% loss: 40 items in {lossy:.2f}s (ratio to clean {lossy / clean:.1f})")
    finally:
        worker.stop()
        head.stop()
