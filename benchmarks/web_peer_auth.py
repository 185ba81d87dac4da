"""What the same-user loopback check (peer credentials) costs per request.

Prints one JSON line per figure:
- one uncached peer lookup: netlink sock_diag (what Linux uses), /proc/net/tcp (its fallback),
  and a cache hit; ``sockets`` is how many TCP sockets /proc lists (the fallback reads them all);
- GET /api/health on a head with a token, median per request over ``--requests``: trusted as the
  local user vs authenticated by a Bearer token, on one keep-alive connection and with
  ``Connection: close`` (a new connection, so one uncached lookup, per request).

    python benchmarks/web_peer_auth.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time
from collections.abc import Callable

import httpx

from pycluster import HeadNode
from pycluster.web import peercred

TOKEN = "benchmark-token-0123456789abcdef"


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def per_call(run: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - start) / n


def lookups(n: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, peer = server.accept()
        with client, conn:
            here = conn.getsockname()
            cached = peercred.PeerCredentials()
            cached.same_user(peer, here)
            with open("/proc/net/tcp") as f:
                sockets = sum(1 for _ in f) - 1
            for name, run in {
                "netlink": lambda: peercred._netlink_peer_uid(peer, here),
                "proc_net_tcp": lambda: peercred._proc_peer_uid(peer, here),
                "cache_hit": lambda: cached.same_user(peer, here),
            }.items():
                emit(figure="peer_lookup", how=name, us=round(per_call(run, n) * 1e6, 1), sockets=sockets)


def requests(url: str, n: int, rounds: int) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        for connection in ("keep-alive", "close"):  # close: a new connection (and lookup) per request
            for how, headers in (("local_user", {}), ("bearer", bearer)):
                with httpx.Client(base_url=url, headers={**headers, "Connection": connection}) as client:
                    client.get("/api/health").raise_for_status()
                    took = per_call(lambda c=client: c.get("/api/health").raise_for_status(), n)
                results.setdefault(f"{how}/{connection}", []).append(took)
    for key, times in results.items():
        how, connection = key.split("/")
        emit(figure="request", auth=how, connection=connection, ms=round(statistics.median(times) * 1e3, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lookups(2000)
    with (
        tempfile.TemporaryDirectory() as state,
        HeadNode(
            "peer-bench",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            api_token=TOKEN,
            state_dir=state,
        ) as head,
    ):
        head.start(n_local_workers=0)
        requests(head.dashboard_url or "", args.requests, args.rounds)


if __name__ == "__main__":
    main()
