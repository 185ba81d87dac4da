"""The userspace netem (``tests/net/lossy_link.py``): what it is told to do happens to real packets
between two namespaces: a clean link forwards everything at once, a delay shows in the measured
round trip, a loss fraction drops about that fraction, a cut drops everything."""

from __future__ import annotations

import socket
import statistics
import sys
import time
from collections.abc import Iterator

import pytest

from tests.helpers import wait_for
from tests.net.lossy_link import Impairment, LinkedPair, LossyLink, linked_pair, udp_socket

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux only"),
]


@pytest.fixture(scope="module")
def pair() -> Iterator[LinkedPair]:
    with linked_pair(seed=16) as created:
        yield created


@pytest.fixture
def link(pair: LinkedPair) -> Iterator[LossyLink]:
    assert pair.link is not None
    yield pair.link
    pair.link.set(Impairment())


def _sockets(pair: LinkedPair) -> tuple[socket.socket, socket.socket]:
    a = udp_socket(pair["a"], (pair.addresses["a"], 0))
    b = udp_socket(pair["b"], (pair.addresses["b"], 0))
    b.connect(a.getsockname())
    for sock in (a, b):
        sock.settimeout(2)
    return a, b


def _round_trips(pair: LinkedPair, count: int) -> list[float]:
    """UDP echo times, b → a → b, in seconds (a lost datagram is retried: no loss is set here)."""
    a, b = _sockets(pair)
    with a, b:
        times = []
        for n in range(count):
            sent = time.monotonic()
            b.send(n.to_bytes(4, "big"))
            data, sender = a.recvfrom(64)
            a.sendto(data, sender)
            assert b.recv(64) == data
            times.append(time.monotonic() - sent)
        return times


def test_only_the_test_subnet_is_routed(pair: LinkedPair) -> None:
    for role in pair.roles:
        routes = [line.strip() for line in pair.routes(role).strip().splitlines()]
        want = f"10.214.0.0/24 dev tun0 proto kernel scope link src {pair.addresses[role]}"
        assert routes == [want], routes


def test_delay_shows_in_the_round_trip(pair: LinkedPair, link: LossyLink) -> None:
    clean = statistics.median(_round_trips(pair, 20))
    link.set(Impairment(delay=0.030, jitter=0.005))
    before = link.stats()
    delayed = statistics.median(_round_trips(pair, 20))
    moved = link.stats() - before
    print(f"UDP echo: clean {clean * 1000:.2f} ms, 30±5 ms each way {delayed * 1000:.1f} ms; {moved}")
    assert clean < 0.010
    assert 0.050 < delayed < 0.100  # two ways of 25-35 ms, plus the relay's own time
    assert moved.forwarded == moved.delayed == 40 and moved.dropped == 0
    assert 0.025 < moved.mean_delay < 0.045


def test_loss_drops_about_that_fraction_and_a_cut_drops_all(pair: LinkedPair, link: LossyLink) -> None:
    a, b = _sockets(pair)
    with a, b:
        # the 500 wait in a's buffer until read: large enough that it never drops any itself
        # (on a loaded machine the reader starts late; the default buffer dropped 18 once)
        try:
            a.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)  # Linux: 33
        except OSError:
            a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        link.set(Impairment(loss=0.2))
        before = link.stats()
        for n in range(500):
            b.send(n.to_bytes(4, "big"))
            if n % 50 == 49:  # paced: a TUN device's queue (500 packets) never overflows before the relay
                wait_for(lambda n=n: (link.stats() - before).seen > n, 20, what=f"the relay to see {n + 1}")
        moved = link.stats() - before
        received = 0
        while received < moved.forwarded:  # each recv waits up to 2 s (the relay thread may lag)
            a.recv(64)
            received += 1
        a.settimeout(0.3)
        with pytest.raises(TimeoutError):  # and none beyond what the relay counted as forwarded
            a.recv(64)
        print(f"20% loss, 500 datagrams: {received} arrived; {moved}")
        assert moved.seen == 500
        assert received == moved.forwarded == 500 - moved.dropped
        assert 60 <= moved.dropped <= 140  # 100 expected; a binomial's sd is 9

        link.set(Impairment(loss=1.0))
        for n in range(20):
            b.send(n.to_bytes(4, "big"))
        with pytest.raises(TimeoutError):
            a.recv(64)
        link.set(Impairment())
        b.send(b"back")
        assert a.recv(64) == b"back"
