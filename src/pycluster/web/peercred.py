"""Who is on the other end of a loopback TCP connection: the peer socket's owner, like a Unix
socket's peer credentials (``SO_PEERCRED``), which TCP does not offer.

On Linux the kernel tells the uid that created any TCP socket of this network namespace: asked
over netlink (``sock_diag``, what ``ss`` uses) for the one socket whose local address is the
peer's ip:port and whose remote address is our server's ip:port, it answers in ~15 µs; where
netlink is unavailable, the same row is found in ``/proc/net/tcp`` or ``tcp6`` (~1.5 ms with a
few hundred sockets, as it lists them all). Elsewhere
``psutil.net_connections`` names the peer's process, whose user we compare with ours; where that
is not permitted (macOS without root) the answer is "unknown", and the caller requires the token.

Answers are cached per (peer ip, peer port, server port) for ``CACHE_TTL`` seconds, so a
keep-alive connection is looked up about once, not once per request. The TTL is short because
a port can be reused: once a connection closes, another local user could connect from the same
port within the TTL and be taken for the first one.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import struct
import sys
import threading
import time

__all__ = ["CACHE_TTL", "PeerCredentials", "is_loopback_ip"]

CACHE_TTL = 2.0
_CACHE_MAX = 4096


@functools.lru_cache(maxsize=1024)
def is_loopback_ip(ip: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x (``::ffff:127.0.0.1``). Cached: every
    request asks it for its peer, its server and its Host (parsing was 5 % of a submission)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _proc_hex(ip: str, port: int) -> list[tuple[str, str]]:
    """How ip:port is spelled in /proc/net/tcp{,6}: [(file name, "ADDR:PORT")], one per family the
    socket can be listed under (an IPv4-mapped address may be an IPv4 or an IPv6 socket)."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    spellings: list[tuple[str, str]] = []
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        v4 = address.ipv4_mapped
        spellings.append(("tcp", "{:08X}".format(struct.unpack("=I", v4.packed)[0])))
    if isinstance(address, ipaddress.IPv4Address):
        spellings.append(("tcp", "{:08X}".format(struct.unpack("=I", address.packed)[0])))
        address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    words = struct.unpack("=4I", address.packed)  # the kernel prints four host-order 32-bit words
    spellings.append(("tcp6", "".join(f"{w:08X}" for w in words)))
    return [(name, f"{text}:{port:04X}") for name, text in spellings]


class PeerCredentials:
    """``same_user(peer, server)``: is the socket at ``peer`` owned by this process's user?"""

    def __init__(self, ttl: float = CACHE_TTL) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, int, int], tuple[bool, float]] = {}
        self._lock = threading.Lock()
        self.lookups = 0  # uncached answers, for tests and benchmarks

    def same_user(self, peer: tuple[str, int], server: tuple[str, int]) -> bool:
        key = (peer[0], int(peer[1]), int(server[1]))
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1] > now:
                return hit[0]
        answer = self._lookup(peer, server)
        with self._lock:
            self.lookups += 1
            if len(self._cache) >= _CACHE_MAX:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
            self._cache[key] = (answer, now + self.ttl)
        return answer

    def _lookup(self, peer: tuple[str, int], server: tuple[str, int]) -> bool:
        try:
            if sys.platform.startswith("linux") and os.path.exists("/proc/net/tcp"):
                return _linux_peer_uid(peer, server) == os.getuid()
            return _psutil_same_user(peer, server)
        except (OSError, ValueError):
            return False


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_ENOENT = 2


def _family_pairs(peer: tuple[str, int], server: tuple[str, int]) -> list[tuple[int, bytes, bytes]]:
    """(address family, peer address, server address) to ask about, each packed to 16 bytes."""
    a = ipaddress.ip_address(peer[0].split("%", 1)[0])
    b = ipaddress.ip_address(server[0].split("%", 1)[0])
    pairs: list[tuple[int, bytes, bytes]] = []
    a4 = a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) else a
    b4 = b.ipv4_mapped if isinstance(b, ipaddress.IPv6Address) else b
    if a4 is not None and b4 is not None:
        pairs.append((socket.AF_INET, a4.packed.ljust(16, b"\0"), b4.packed.ljust(16, b"\0")))
    if isinstance(a, ipaddress.IPv6Address) and isinstance(b, ipaddress.IPv6Address):
        pairs.append((socket.AF_INET6, a.packed, b.packed))
    return pairs


def _netlink_peer_uid(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
    """sock_diag exact lookup (``inet_diag_req_v2`` for one socket id). Raises OSError when
    netlink or the inet_diag module is unavailable; None when there is no such socket."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(1.0)
        for family, src, dst in _family_pairs(peer, server):
            sockid = (
                struct.pack("!HH", int(peer[1]), int(server[1]))
                + src
                + dst
                + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)  # any interface, INET_DIAG_NOCOOKIE
            )
            request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
            header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
            nl.send(header + request)
            answer = nl.recv(65536)
            _length, kind = struct.unpack_from("=IH", answer)
            if kind == _NLMSG_ERROR:
                error = -struct.unpack_from("=i", answer, 16)[0]
                if error == _ENOENT:
                    continue
                raise OSError(error, "sock_diag refused the lookup")
            # nlmsghdr (16) + inet_diag_msg: family, state, timer, retrans (4), sockid (48),
            # expires, rqueue, wqueue (12), then uid
            return int(struct.unpack_from("=I", answer, 16 + 64)[0])
    return None


def _linux_peer_uid(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
    try:
        return _netlink_peer_uid(peer, server)
    except OSError:
        return _proc_peer_uid(peer, server)


def _proc_peer_uid(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
    servers = dict(_proc_hex(server[0], int(server[1])))
    for name, local in _proc_hex(peer[0], int(peer[1])):
        remote = servers.get(name)
        if remote is None:
            continue
        with open(f"/proc/net/{name}", encoding="ascii") as f:
            table = f.read()
        at = table.find(f" {local} {remote} ")
        if at < 0:
            continue
        end = table.find("\n", at)
        fields = table[at : end if end >= 0 else None].split()
        # local remote state queues timer retransmits uid ...
        return int(fields[6])
    return None


def _psutil_same_user(peer: tuple[str, int], server: tuple[str, int]) -> bool:
    """macOS, Windows, BSD: find the peer's process, compare its user with ours. Not permitted
    (macOS lists other processes' sockets only to root) or not found: False, so the token is needed."""
    import psutil

    def same_ip(a: str, b: str) -> bool:
        try:
            x, y = ipaddress.ip_address(a.split("%", 1)[0]), ipaddress.ip_address(b.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped is not None:
            x = x.ipv4_mapped
        if isinstance(y, ipaddress.IPv6Address) and y.ipv4_mapped is not None:
            y = y.ipv4_mapped
        return x == y

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, psutil.Error, OSError):
        return False
    for conn in connections:
        if not conn.laddr or not conn.raddr or conn.pid is None:
            continue
        if (
            conn.laddr.port == int(peer[1])
            and conn.raddr.port == int(server[1])
            and same_ip(conn.laddr.ip, peer[0])
            and same_ip(conn.raddr.ip, server[0])
        ):
            try:
                theirs = psutil.Process(conn.pid)
                if hasattr(os, "getuid"):
                    return bool(theirs.uids().real == os.getuid())
                return bool(theirs.username() == psutil.Process().username())
            except (psutil.Error, OSError):
                return False
    return False
