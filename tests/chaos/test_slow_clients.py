"""Clients that hold a head's web server: bodies trickled a few bytes at a time, and a flood of
chunked bodies without a token from many connections at once. The head keeps answering others.

One chunked body without a token (401 before it is read, memory bounded) is covered by
``tests/web/test_body_guard.py``; these reuse its raw-socket helpers. Figures are printed (``-s``).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import running_head
from tests.web.test_body_guard import JOB, NOT_LOCAL, _chunk, _open, _rss_bytes, _status

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

TOKEN = "slow-clients-token-0123456789"
HEALTH = "/api/processing/health"
# one chunk shared by every flooding thread: the head runs in this process, so client-side
# buffers (16 threads x a fresh 1 MB chunk each) would be counted as the head's memory
CHUNK = _chunk(b"x" * 65536)


def _flood_until_refused(sock: socket.socket, total: int) -> int:
    """Send up to ``total`` bytes of chunked body; stop when the server closes. Bytes sent."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(CHUNK)
            sent += len(CHUNK)
    except OSError:
        pass  # the server answered and closed: what we want
    return sent


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    state = tmp_path_factory.mktemp("slow-state")
    with running_head("slow-clients", state, workers=1, api_token=TOKEN) as node:
        parts = urlsplit(node.dashboard_url or "")
        yield parts.hostname or "", parts.port or 0


def _latencies(address: tuple[str, int], seconds: float) -> list[float]:
    """Health requests one after another for ``seconds``, each on a new connection: their latencies."""
    url = f"http://{address[0]}:{address[1]}{HEALTH}"
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        times.append(time.monotonic() - started)
        assert answer.status_code == 200, answer.text
    return times


def test_bodies_trickled_byte_by_byte_do_not_stall_the_head(address: tuple[str, int]) -> None:
    baseline = statistics.median(_latencies(address, 2))
    stop = threading.Event()
    sent = [0]
    headers = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
    trickling = [_open(address, JOB, headers) for _ in range(30)]

    def trickle() -> None:
        while not stop.is_set():
            for sock in trickling:
                try:
                    sock.sendall(b" ")
                    sent[0] += 1
                except OSError:
                    pass
            stop.wait(0.2)

    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    try:
        during = _latencies(address, 6)
    finally:
        stop.set()
        feeder.join(5)
        for sock in trickling:
            sock.close()
    p50, p_max = statistics.median(during), max(during)
    print(
        f"{len(trickling)} clients trickling bodies ({sent[0]} bytes in 6 s): health p50 {p50 * 1000:.1f} ms "
        f"(alone {baseline * 1000:.1f} ms, ratio {p50 / baseline:.1f}), max {p_max * 1000:.0f} ms, "
        f"{len(during)} answered"
    )
    assert p50 < max(0.25, 10 * baseline)
    assert p_max < 3


def test_a_flood_of_chunked_bodies_without_a_token_is_refused_fast(address: tuple[str, int]) -> None:
    headers = f"{NOT_LOCAL}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    before = _rss_bytes()
    answers: list[tuple[int, float, int]] = []

    def flood() -> None:
        started = time.monotonic()
        with _open(address, JOB, headers) as sock:
            sock.sendall(CHUNK)
            code = _status(sock)
            answered = time.monotonic() - started
            answers.append((code, answered, _flood_until_refused(sock, 20_000_000)))

    threads = [threading.Thread(target=flood) for _ in range(16)]
    for thread in threads:
        thread.start()
    latencies = []
    for _ in range(10):
        started = time.monotonic()
        assert httpx.get(f"http://{address[0]}:{address[1]}{HEALTH}", timeout=10).status_code == 200
        latencies.append(time.monotonic() - started)
    for thread in threads:
        thread.join(60)
    growth = _rss_bytes() - before
    slowest = max(seconds for _, seconds, _ in answers)
    pushed = sum(sent for _, _, sent in answers)
    print(
        f"{len(threads)} chunked floods without a token: codes {sorted({c for c, _, _ in answers})}, "
        f"slowest 401 after {slowest:.3f} s, clients pushed {pushed / 1e6:.0f} MB, head RSS "
        f"+{growth / 1e6:.1f} MB; health meanwhile p50 {statistics.median(latencies) * 1000:.1f} ms"
    )
    assert len(answers) == len(threads) and {c for c, _, _ in answers} == {401}
    assert slowest < 3
    assert growth < 20_000_000
