"""A head and a worker in two network namespaces whose only link is a relay the test controls
(``tests/net/lossy_link.py``): the link is cut, then healed, then made slow and lossy. The worker
is dropped within worker-ttl of the cut, is back after it, and work finishes right under loss and
delay without the worker being dropped. Figures are printed (``-s``).

Why a userspace relay and not ``tc netem``: many kernels (this project's CI among them) have no
``sch_netem``, where the netem part never ran; the relay needs only ``/dev/net/tun``, is seeded,
and counts what it dropped and delayed, so the test asserts the fault really happened.
Root (or CAP_NET_ADMIN), else skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CliProcess
from tests.net.lossy_link import Impairment, LinkedPair, LossyLink, linked_pair
from tests.net.netns import exec_prefix

PYTHON = sys.executable
TTL = 5.0  # the scheduler's patience with a silent worker: the test's, not the default 20 s
# (Dask allows no less than 10 heartbeat intervals, 5 s for one worker)
ITEMS = 40
LOSSY = Impairment(delay=0.040, jitter=0.010, loss=0.05)
pytestmark = [
    pytest.mark.chaos,
    pytest.mark.slow,
    pytest.mark.netns,
    pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux only"),
]

# runs inside the head's namespace for the whole test (one start of Python and Dask), answering
# one line per command read from stdin:
#   wait N PATIENCE -> seconds until the scheduler has N workers (-1: not within PATIENCE)
#   map ITEMS [PATIENCE] -> seconds to map ITEMS items of 0.05 s (results checked), or "error ..."
#   workers         -> the workers' addresses
DRIVER = """
import sys, time
from distributed import Client, wait

def square(x):
    time.sleep(0.05)
    return x * x

with Client(sys.argv[1], timeout=20) as client:
    for line in sys.stdin:
        command, *args = line.split()
        started = time.monotonic()
        if command == "wait":
            want, patience = int(args[0]), float(args[1])
            while len(client.nthreads()) != want and time.monotonic() - started < patience:
                time.sleep(0.05)
            answer = f"{time.monotonic() - started:.2f}" if len(client.nthreads()) == want else "-1"
        elif command == "map":
            items, patience = int(args[0]), float(args[1]) if len(args) > 1 else None
            futures = client.map(square, range(items), pure=False)
            try:
                wait(futures, timeout=patience)
                results = client.gather(futures)
                assert results == [x * x for x in range(items)], results
                answer = f"{time.monotonic() - started:.2f}"
            except Exception as exc:
                answer = f"error {type(exc).__name__}: {exc}".replace("\\n", " ")
                client.cancel(futures)
        else:
            answer = " ".join(sorted(client.nthreads())) or "none"
        print(answer, flush=True)
"""


class Driver:
    """The Dask client in the head's namespace."""

    def __init__(self, pair: LinkedPair, address: str) -> None:
        self.proc = subprocess.Popen(
            [*exec_prefix(pair["head"]), PYTHON, "-c", DRIVER, address],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer, f"the driver ended: {self.proc.stderr.read()[-3000:] if self.proc.stderr else ''}"
        return answer

    def wait(self, workers: int, patience: float) -> float:
        return float(self.ask(f"wait {workers} {patience}"))

    def map(self, items: int = ITEMS) -> float:
        answer = self.ask(f"map {items}")
        assert not answer.startswith("error"), answer
        return float(answer)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its handle
        self.proc.wait(10)


@pytest.fixture
def pair() -> Iterator[LinkedPair]:
    with linked_pair(("head", "worker"), seed=16) as created:
        yield created


def _left(head: CliProcess) -> int:
    return sum("worker left" in line for line in head.lines)


def test_partition_then_heal_then_loss_and_delay(pair: LinkedPair, tmp_path: Path) -> None:
    link = pair.link
    assert isinstance(link, LossyLink)
    prefix = exec_prefix(pair["head"])
    head = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "head", "--host", pair.addresses["head"],
        "--scheduler-port", "0", "--dashboard-port", "0", "--dask-dashboard-port", "off",
        "--no-discovery", "--local-workers", "0", "--state-dir", str(tmp_path), "--insecure",
        program=prefix[0], env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": f"{TTL}s"},
    )  # fmt: skip
    address = head.wait_for_line(r"scheduler:\s+(tcp://\S+)").group(1)
    prefix = exec_prefix(pair["worker"])
    worker = CliProcess(
        *prefix[1:], PYTHON, "-m", "pycluster", "worker", "--scheduler", address, "--insecure",
        "--workers", "1", "--threads", "2", "--name", "far-worker", "--reconnect-timeout", "120",
        program=prefix[0],
    )  # fmt: skip
    driver = Driver(pair, address)
    try:
        worker.wait_for_line("PYCLUSTER-WORKERS-READY", 60)
        assert driver.wait(1, 30) >= 0
        clean = driver.map()

        # the cable is pulled: the scheduler hears nothing from the worker
        link.set(Impairment(loss=1.0))
        cut_at = time.monotonic()
        dropped = driver.wait(0, 3 * TTL)
        link.set(Impairment())
        healed_at = time.monotonic()
        assert driver.wait(1, 60) >= 0, f"{worker.output[-4000:]}\n---\n{head.output[-4000:]}"
        rejoined = time.monotonic() - healed_at
        after = driver.map()
        print(
            f"\npartition of {healed_at - cut_at:.1f}s (worker-ttl {TTL:.0f}s): worker dropped "
            f"{dropped:.1f}s after the cut, working again {rejoined:.1f}s after the heal; "
            f"{ITEMS} items {ITEMS / clean:.0f}/s before the cut, {ITEMS / after:.0f}/s after the heal"
        )
        assert worker.proc.poll() is None, worker.output[-3000:]
        # its last heartbeat was at most 0.5 s before the cut; the head checks every second
        # and waits 1 s for its unreachable Nanny (Dask alone: up to 2 x TTL + 30 s)
        assert TTL - 1.0 <= dropped <= TTL + 3.0, head.output[-3000:]

        # 40±10 ms each way and 5% loss: slower, right, and the worker is never dropped
        left = _left(head)
        (present,) = driver.ask("workers").split()
        link.set(LOSSY)
        before = link.stats()
        started = time.monotonic()
        lossy = driver.map()
        time.sleep(max(0.0, TTL + 1.0 - (time.monotonic() - started)))  # longer than worker-ttl
        moved = link.stats() - before
        link.set(Impairment())
        print(
            f"{LOSSY}: {ITEMS} items {ITEMS / lossy:.1f}/s vs {ITEMS / after:.0f}/s clean "
            f"(ratio {after / lossy:.2f}) over {time.monotonic() - started:.1f}s; link: {moved}"
        )
        assert _left(head) == left, head.output[-3000:]
        assert driver.ask("workers") == present
        assert moved.dropped > 0 and 0.02 < moved.dropped / moved.seen < 0.10, moved
        assert 0.030 < moved.mean_delay < 0.050, moved

        # heavier: 400 ms each way (a round trip of 0.8 s) and 5% loss: still right, still there
        slow = Impairment(delay=0.400, loss=0.05)
        link.set(slow)
        before = link.stats()
        crawl = driver.map(10)
        moved = link.stats() - before
        ratio = (after / ITEMS) / (crawl / 10)  # items/s, to the clean link's
        print(f"{slow}: 10 items {10 / crawl:.1f}/s (ratio to clean {ratio:.2f}); link: {moved}")
        assert _left(head) == left, head.output[-3000:]
        assert 0.35 < moved.mean_delay < 0.5, moved
        link.set(Impairment())
        time.sleep(0.5)  # what is still held goes out: the next figures count the next fault only

        # heaviest: 30% loss each way. TCP's retransmissions back off (0.2 s, 0.4 s, ... per
        # segment lost again): the work finishes or gives up after its patience with a clear
        # TimeoutError, and the worker may be dropped (then it joins again)
        lossy30 = Impairment(loss=0.30)
        link.set(lossy30)
        before = link.stats()
        answer = driver.ask("map 10 20")
        moved = link.stats() - before
        link.set(Impairment())
        dropped_again = _left(head) - left
        print(f"{lossy30}: 10 items: {answer} s; worker dropped {dropped_again} times; link: {moved}")
        assert answer.startswith("error TimeoutError") or float(answer) < 20, answer
        assert 0.15 < moved.dropped / moved.seen < 0.45, moved
        assert driver.wait(1, 30) >= 0  # the worker is (back) in the cluster
    finally:
        driver.close()
        worker.stop()
        head.stop()
