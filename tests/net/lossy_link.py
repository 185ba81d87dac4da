"""A userspace ``netem`` for tests: two network namespaces joined only by a relayed TUN link.

Kernels without ``sch_netem`` (``tc qdisc add ... netem`` → "Specified qdisc kind is unknown")
still have ``/dev/net/tun``. Each namespace gets a ``tun0`` on 10.214.0.0/24 and nothing else
but loopback (no route out, no other device): every packet between them is read by a relay
thread in the test process, which drops a fraction of them (seeded RNG) and writes the rest to
the other side after a delay with jitter. It counts what it did, so a test can print and assert
it. ``set(Impairment(loss=1.0))`` is a pulled cable; ``Impairment()`` a clean link.

Unlike netem with jitter, packets in one direction keep their order (a packet is never sent
before the one read ahead of it): a path with a varying delay, not a reordering one, so TCP
sees loss and delay rather than spurious fast retransmits.

Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN): each TUN device is created by a short-lived
thread that has entered its namespace with ``setns`` (Python 3.11 has no ``os.setns``: libc's,
through ctypes); the thread ends, the device's file descriptor stays with the relay.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import heapq
import os
import random
import selectors
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

import pytest

from tests.net.netns import Namespaces, _ip

SUBNET_PREFIX = "10.214.0"
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000  # raw IP packets, no 4-byte protocol header
CLONE_NEWNET = 0x40000000
QUEUE_LIMIT = 1000  # packets held per direction, as netem's default limit; more are dropped
T = TypeVar("T")


@dataclass(frozen=True)
class Impairment:
    """What the link does to each packet: a one-way ``delay`` ± ``jitter`` (seconds, uniform)
    and a ``loss`` fraction dropped."""

    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0 or self.delay < 0 or not 0 <= self.jitter <= self.delay:
            raise ValueError(f"not an impairment: {self}")

    def __str__(self) -> str:
        return f"{self.delay * 1000:.0f}±{self.jitter * 1000:.0f} ms delay, {self.loss:.0%} loss"


@dataclass(frozen=True)
class LinkStats:
    """Packets the relay has seen, both directions together."""

    forwarded: int = 0
    dropped: int = 0  # by the loss fraction
    overflowed: int = 0  # more than QUEUE_LIMIT held in one direction
    delayed: int = 0  # forwarded after being held (a delay was set)
    held_seconds: float = 0.0  # total time forwarded packets were held

    @property
    def seen(self) -> int:
        return self.forwarded + self.dropped + self.overflowed

    @property
    def mean_delay(self) -> float:
        return self.held_seconds / self.delayed if self.delayed else 0.0

    def __sub__(self, other: LinkStats) -> LinkStats:
        return LinkStats(
            self.forwarded - other.forwarded,
            self.dropped - other.dropped,
            self.overflowed - other.overflowed,
            self.delayed - other.delayed,
            self.held_seconds - other.held_seconds,
        )

    def __str__(self) -> str:
        return (
            f"{self.forwarded} forwarded ({self.delayed} delayed, mean {self.mean_delay * 1000:.1f} ms), "
            f"{self.dropped} dropped ({self.dropped / max(self.seen, 1):.1%}), {self.overflowed} overflowed"
        )


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def in_namespace(ns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` on a thread that has entered network namespace ``ns``: sockets and devices it
    opens belong to ``ns`` for good; the calling thread never changes namespace."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"setns-{ns}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _open_tun(name: str = "tun0") -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    # no IPv6 on the link: router solicitations and MLD reports would be counted as traffic
    with contextlib.suppress(OSError), open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as flag:
        flag.write("1")
    return fd


class LossyLink:
    """The relay between two TUN file descriptors; ``set`` changes what it does at any time."""

    def __init__(self, fd_a: int, fd_b: int, seed: int = 0) -> None:
        self._peer = {fd_a: fd_b, fd_b: fd_a}
        self._rng = random.Random(seed)
        self._impairment = Impairment()
        self._stats = LinkStats()
        self._lock = threading.Lock()
        self._held: list[tuple[float, int, int, bytes, float]] = []  # (due, seq, to fd, packet, read at)
        self._last_due = {fd_a: 0.0, fd_b: 0.0}
        self._queued = {fd_a: 0, fd_b: 0}
        self._seq = 0
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="lossy-link", daemon=True)
        self._thread.start()

    def set(self, impairment: Impairment) -> None:
        with self._lock:
            self._impairment = impairment
        os.write(self._wake_w, b"x")

    @property
    def impairment(self) -> Impairment:
        return self._impairment

    def stats(self) -> LinkStats:
        with self._lock:
            return self._stats

    def close(self) -> None:
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(10)
        for fd in (*self._peer, self._wake_r, self._wake_w):
            os.close(fd)

    def _count(self, **more: float) -> None:
        with self._lock:
            self._stats = replace(self._stats, **{k: getattr(self._stats, k) + v for k, v in more.items()})

    def _receive(self, fd: int, now: float) -> None:
        out = self._peer[fd]
        while True:
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                return
            with self._lock:
                imp = self._impairment
            if imp.loss and self._rng.random() < imp.loss:
                self._count(dropped=1)
                continue
            if self._queued[out] >= QUEUE_LIMIT:
                self._count(overflowed=1)
                continue
            due = now + imp.delay + (self._rng.uniform(-imp.jitter, imp.jitter) if imp.jitter else 0.0)
            due = max(due, self._last_due[out])  # never ahead of the packet before it
            self._last_due[out] = due
            self._queued[out] += 1
            self._seq += 1
            heapq.heappush(self._held, (due, self._seq, out, packet, now))

    def _send_due(self, now: float) -> None:
        while self._held and self._held[0][0] <= now:
            due, _, out, packet, read_at = heapq.heappop(self._held)
            self._queued[out] -= 1
            # counted before the write: a test that saw the packet arrive sees it counted
            if due > read_at:  # held as told: the time actually held, lateness of this thread included
                self._count(forwarded=1, delayed=1, held_seconds=time.monotonic() - read_at)
            else:
                self._count(forwarded=1)
            with contextlib.suppress(BlockingIOError):  # a full device queue: lost, like a full NIC
                os.write(out, packet)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for fd in self._peer:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        while not self._stop:
            timeout = max(0.0, self._held[0][0] - time.monotonic()) if self._held else None
            for key, _ in selector.select(timeout):
                if key.fd == self._wake_r:
                    os.read(self._wake_r, 64)
                else:
                    self._receive(key.fd, time.monotonic())
            self._send_due(time.monotonic())
        selector.close()


class LinkedPair(Namespaces):
    """Two namespaces, ``a`` and ``b`` by default, whose only link is a :class:`LossyLink`."""

    def __init__(self, roles: tuple[str, str] = ("a", "b"), seed: int = 0) -> None:
        super().__init__({role: n + 1 for n, role in enumerate(roles)})
        self.roles = roles
        self.addresses = {role: f"{SUBNET_PREFIX}.{n + 1}" for n, role in enumerate(roles)}
        self.seed = seed
        self.link: LossyLink | None = None

    def create(self) -> None:
        fds = []
        for role in self.roles:
            ns = self.names[role]
            _ip("netns", "add", ns)
            fds.append(in_namespace(ns, _open_tun))
            _ip("-n", ns, "addr", "add", f"{self.addresses[role]}/24", "dev", "tun0")
            _ip("-n", ns, "link", "set", "tun0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        self.link = LossyLink(fds[0], fds[1], self.seed)

    def delete(self) -> None:
        super().delete()  # processes inside first: nothing writes to the TUN devices any more
        if self.link is not None:
            self.link.close()
            self.link = None


@contextlib.contextmanager
def linked_pair(roles: tuple[str, str] = ("a", "b"), seed: int = 0) -> Iterator[LinkedPair]:
    """Create the pair, or skip saying what was not run and why."""
    pair = LinkedPair(roles, seed)
    try:
        pair.create()
    except (subprocess.CalledProcessError, OSError) as exc:
        pair.delete()
        reason = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        pytest.skip(
            f"lossy-link tests not run (network namespaces joined by a TUN relay): {reason} "
            "(needs root, iproute2 and /dev/net/tun)"
        )
    try:
        yield pair
    finally:
        pair.delete()


def udp_socket(ns: str, bind: tuple[str, int]) -> socket.socket:
    """A UDP socket bound inside namespace ``ns``."""

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(bind)
        return sock

    return in_namespace(ns, make)
