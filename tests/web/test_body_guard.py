"""Request bodies against a real head over raw sockets: credentials are checked before a body is
read, and the size cap holds for chunked bodies too, as they stream.

The head runs in this process, so its memory is this process's RSS. Requests carry
``X-Forwarded-For`` so the same-user loopback trust does not apply (see test_auth.py).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.helpers import running_head

TOKEN = "body-guard-token-0123456789"
NOT_LOCAL = "X-Forwarded-For: 203.0.113.7\r\n"
JOB = "/api/processing/jobs/submit"


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with running_head("body-test", tmp_path_factory.mktemp("body-state"), workers=1, api_token=TOKEN) as node:
        parts = urlsplit(node.dashboard_url or "")
        yield parts.hostname or "", parts.port or 0


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _open(address: tuple[str, int], path: str, headers: str) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    host = f"{address[0]}:{address[1]}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    return sock


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _status(sock: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        part = sock.recv(4096)
        if not part:
            raise AssertionError(f"connection closed before a status line: {head!r}")
        head += part
    return int(head.split(b" ", 2)[1])


def _send_until_refused(sock: socket.socket, total: int, piece: int = 1 << 20) -> int:
    """Send up to ``total`` bytes of chunked body; stop when the server closes. Bytes sent."""
    sent, data = 0, b"x" * piece
    try:
        while sent < total:
            sock.sendall(_chunk(data))
            sent += piece
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: what we want
    return sent


def test_a_chunked_body_without_a_token_is_refused_before_it_is_read(address: tuple[str, int]) -> None:
    headers = f"{NOT_LOCAL}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    before = _rss_bytes()
    started = time.monotonic()
    with _open(address, JOB, headers) as sock:
        sock.sendall(_chunk(b"x" * 65536))  # a body is under way, and never finished before the answer
        assert _status(sock) == 401
        answered = time.monotonic() - started
        sent = _send_until_refused(sock, 50_000_000)
    growth = _rss_bytes() - before
    print(f"401 after {answered:.3f} s; client pushed {sent / 1e6:.0f} MB; head RSS +{growth / 1e6:.1f} MB")
    assert answered < 2
    assert growth < 20_000_000


def test_a_chunked_job_body_over_the_cap_gets_413_while_it_streams(address: tuple[str, int]) -> None:
    headers = (
        f"{NOT_LOCAL}Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    )
    with _open(address, JOB, headers) as sock:
        # 1.5 MB of a body whose end never comes: only counting as it arrives can answer this
        sock.sendall(_chunk(b'{"function": "' + b"x" * 1_500_000))
        assert _status(sock) == 413


def test_a_5_mb_chunked_job_body_with_the_token_gets_413(address: tuple[str, int]) -> None:
    headers = f"{NOT_LOCAL}Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n"
    with _open(address, JOB, headers) as sock:
        _send_until_refused(sock, 5_000_000, piece=256_000)
        assert _status(sock) == 413


def test_an_upload_declared_over_its_cap_gets_413_before_its_body(address: tuple[str, int]) -> None:
    headers = (
        f"{NOT_LOCAL}Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 300000000\r\n"
    )
    with _open(address, "/api/processing/data/upload", headers) as sock:
        assert _status(sock) == 413  # nothing of the 300 MB was sent


def test_an_upload_without_a_token_is_refused_before_its_body(address: tuple[str, int]) -> None:
    headers = f"{NOT_LOCAL}Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n"
    with _open(address, "/api/processing/data/upload", headers) as sock:
        assert _status(sock) == 401


def test_small_bodies_with_the_token_still_work(address: tuple[str, int]) -> None:
    body = b'{"operation": "sleep", "parameters": {"seconds": 0.01, "pieces": 1}}'
    headers = (
        f"{NOT_LOCAL}Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n"
    )
    with _open(address, JOB, headers) as sock:
        sock.sendall(_chunk(body) + b"0\r\n\r\n")
        assert _status(sock) == 200


def test_a_chunked_upload_over_its_cap_gets_413_while_it_streams(
    address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pycluster.web import body_guard

    monkeypatch.setattr(body_guard, "MAX_UPLOAD_BYTES", 2_000_000)  # the real cap is 200 MB
    headers = (
        f"{NOT_LOCAL}Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n"
    )
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\na,b\n'
    with _open(address, "/api/processing/data/upload", headers) as sock:
        sock.sendall(_chunk(part))
        for _ in range(3):  # 3 MB of a file whose end never comes
            sock.sendall(_chunk(b"1,2\n" * 250_000))
        assert _status(sock) == 413
