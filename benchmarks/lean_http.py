"""A lean HTTP/1.1 load client: one keep-alive connection per simulated client, requests
encoded as bytes up front, answers read with an ``asyncio.Protocol`` (what wrk and oha do).

Why: the benchmark's client shares the machine's cores with the head it measures. httpx costs
about 1-2 ms of CPU per request (its connection pool, header models, anyio streams); with 20
clients on a 2-core machine that alone caps the rate near 500 requests/s, so a head faster
than that could not be shown. This client costs a few tens of microseconds per request. It
speaks only what the benchmark needs: plain HTTP/1.1, ``Content-Length`` bodies (no chunked
answers), one request at a time per connection.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["LeanConnection", "encode_get", "encode_post_json"]


def encode_get(host: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def encode_post_json(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Answers(asyncio.Protocol):
    """Collects the bytes of one answer at a time and settles the waiting request with
    (status, body)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._closed: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._closed)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._settle()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self._closed is not None:
            raise self._closed
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def _settle(self) -> None:
        if self._waiter is None:
            return
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._waiter.set_exception(ValueError(f"an answer without Content-Length: {head[:200]!r}"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop > 0 else len(head)])
        if len(buffer) < end + 4 + length:
            return
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        waiter, self._waiter = self._waiter, None
        waiter.set_result((int(head[9:12]), body))


class LeanConnection:
    """``async with LeanConnection(base) as http: status, body = await http.request(raw)``."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        if url.scheme != "http" or url.hostname is None or url.port is None:
            raise ValueError(f"a plain http://host:port URL, not {base!r}")
        self.host = f"{url.hostname}:{url.port}"
        self._address = (url.hostname, url.port)
        self._protocol: _Answers | None = None

    async def __aenter__(self) -> LeanConnection:
        loop = asyncio.get_running_loop()
        _, self._protocol = await loop.create_connection(_Answers, *self._address)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one encoded request; its status and body."""
        assert self._protocol is not None, "use it in 'async with'"
        return await self._protocol.send(raw)
